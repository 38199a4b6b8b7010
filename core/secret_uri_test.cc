// Tests of the canonical secret URI grammar: docs/DESIGN.md "Canonical secret URIs".
#include "core/secret_uri.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sealgate {
namespace {

constexpr std::string_view kBase = "secret://acme/kv/";

// Expects `input` to be rejected with `code`; returns the error for further checks.
::testing::AssertionResult rejectsWith(std::string_view input, ErrorCode code) {
  auto r = SecretUri::parse(input);
  if (r.ok()) {
    return ::testing::AssertionFailure() << "accepted, canonical=" << r->canonical() << ", expected " << code;
  }
  if (r.error().code != code) {
    return ::testing::AssertionFailure() << "code " << r.error().code << " (" << r.error().message << "), expected "
                                         << code;
  }
  return ::testing::AssertionSuccess();
}

// Expects `input` to be accepted with the given canonical form.
::testing::AssertionResult acceptsAs(std::string_view input, std::string_view canonical) {
  auto r = SecretUri::parse(input);
  if (!r.ok()) {
    return ::testing::AssertionFailure() << "rejected with " << r.error().code << " (" << r.error().message
                                         << "), expected " << canonical;
  }
  if (r->canonical() != canonical) {
    return ::testing::AssertionFailure() << "canonical " << r->canonical() << ", expected " << canonical;
  }
  return ::testing::AssertionSuccess();
}

std::string uri(std::string_view rest) { return std::string(kBase) + std::string(rest); }

// "a/a/.../a" with n segments.
std::string segments(std::size_t n, std::string_view seg = "a") {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out.push_back('/');
    out += seg;
  }
  return out;
}

struct Case {
  std::string input;
  std::optional<ErrorCode> code;  // nullopt: accepted
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << '"' << c.input << "\" -> " << (c.code ? errorCodeName(*c.code) : "OK");
}

void runCases(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << c);
    auto r = SecretUri::parse(c.input);
    if (!c.code) {
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
    } else {
      EXPECT_TRUE(rejectsWith(c.input, *c.code));
    }
  }
}

// ---------------------------------------------------------------- acceptance

TEST(SecretUriParse, DesignExample) {
  auto r = SecretUri::parse("secret://acme/kv/payments/stripe?version=3#api_key");
  ASSERT_TRUE(r.ok()) << r.error().code;
  EXPECT_EQ(r->tenant(), "acme");
  EXPECT_EQ(r->mount(), "kv");
  EXPECT_EQ(r->path(), (std::vector<std::string>{"payments", "stripe"}));
  EXPECT_EQ(r->joinedPath(), "payments/stripe");
  ASSERT_TRUE(r->version().has_value());
  EXPECT_EQ(*r->version(), 3u);
  ASSERT_TRUE(r->field().has_value());
  EXPECT_EQ(*r->field(), "api_key");
  EXPECT_EQ(r->canonical(), "secret://acme/kv/payments/stripe?version=3#api_key");
  EXPECT_EQ(r->canonicalWithoutVersionAndField(), "secret://acme/kv/payments/stripe");
  EXPECT_EQ(r->arn(), "arn:sealgate:secrets:v1:acme:kv/payments/stripe:version=3:field=api_key");
}

TEST(SecretUriParse, MinimalUriHasNoVersionOrField) {
  auto r = SecretUri::parse("secret://a/b/c");
  ASSERT_TRUE(r.ok()) << r.error().code;
  EXPECT_EQ(r->tenant(), "a");
  EXPECT_EQ(r->mount(), "b");
  EXPECT_EQ(r->path(), (std::vector<std::string>{"c"}));
  EXPECT_FALSE(r->version().has_value());
  EXPECT_FALSE(r->field().has_value());
  EXPECT_EQ(r->canonical(), "secret://a/b/c");
  EXPECT_EQ(r->canonicalWithoutVersionAndField(), "secret://a/b/c");
  EXPECT_EQ(r->arn(), "arn:sealgate:secrets:v1:a:b/c");
}

TEST(SecretUriParse, AcceptedShapes) {
  runCases({
      {"secret://acme/kv/x", std::nullopt},
      {"secret://acme/kv/a/b/c", std::nullopt},
      {"secret://acme/kv/x?version=1", std::nullopt},
      {"secret://acme/kv/x#f", std::nullopt},
      {"secret://acme/kv/x?version=7#f", std::nullopt},
      {"secret://acme/db/role#username", std::nullopt},
      {"secret://acme/db/role#password", std::nullopt},
      {"secret://0/0/0", std::nullopt},
      {"secret://a-b/kv/x", std::nullopt},
      {"secret://a--b/kv/x", std::nullopt},
      {"secret://9tenant9/kv/x", std::nullopt},
      {"secret://acme/k_v-2/x", std::nullopt},
      {"secret://acme/kv_/x", std::nullopt},  // mount may end with '_' or '-'
      {"secret://acme/kv-/x", std::nullopt},
      {"secret://acme/kv/A.b_c~d-e", std::nullopt},
      {"secret://acme/kv/...", std::nullopt},  // three dots is not a dot segment
      {"secret://acme/kv/.hidden", std::nullopt},
      {"secret://acme/kv/..x", std::nullopt},
      {"secret://acme/kv/~", std::nullopt},
      {"secret://acme/kv/x#A.b-c_9", std::nullopt},
      {"secret://acme/kv/x#.", std::nullopt},  // field '.' is within [A-Za-z0-9_.-]
  });
}

// ---------------------------------------------------------------- whole input

TEST(SecretUriParse, LengthLimitIs1024Bytes) {
  // Pad the path with 100-char segments plus one remainder segment to hit an exact length.
  auto ofLength = [](std::size_t total) {
    std::string s(kBase);
    while (total - s.size() > 101) s += std::string(100, 'p') + "/";
    s += std::string(total - s.size(), 'q');
    return s;
  };
  const std::string exact = ofLength(1024);
  ASSERT_EQ(exact.size(), 1024u);
  auto ok = SecretUri::parse(exact);
  ASSERT_TRUE(ok.ok()) << ok.error().code;
  EXPECT_EQ(ok->canonical(), exact);

  const std::string over = ofLength(1025);
  ASSERT_EQ(over.size(), 1025u);
  EXPECT_TRUE(rejectsWith(over, ErrorCode::UriTooLong));

  // The length check does not care what the bytes are.
  EXPECT_TRUE(rejectsWith(std::string(1025, 'a'), ErrorCode::UriTooLong));
  EXPECT_TRUE(rejectsWith(std::string(5000, '\0'), ErrorCode::UriTooLong));
  // Field and query count toward the limit too.
  std::string withField = uri("x#") + std::string(1024 - uri("x#").size(), 'f');
  ASSERT_EQ(withField.size(), 1024u);
  EXPECT_TRUE(rejectsWith(withField, ErrorCode::UriField));  // field too long, but not TOO_LONG
  EXPECT_TRUE(rejectsWith(withField + "f", ErrorCode::UriTooLong));
}

TEST(SecretUriParse, Charset) {
  std::vector<Case> cases;
  for (int c = 0; c <= 0x20; ++c) {
    cases.push_back({uri("a") + static_cast<char>(c) + "b", ErrorCode::UriCharset});
  }
  cases.push_back({uri("a") + '\x7f' + "b", ErrorCode::UriCharset});
  for (int c : {0x80, 0xa0, 0xc3, 0xff}) {
    cases.push_back({uri("a") + static_cast<char>(c) + "b", ErrorCode::UriCharset});
  }
  runCases(cases);

  // Embedded NUL anywhere, including the scheme and after the fragment mark.
  using namespace std::string_literals;
  EXPECT_TRUE(rejectsWith("secret://acme/kv/x\0"s, ErrorCode::UriCharset));
  EXPECT_TRUE(rejectsWith("\0secret://acme/kv/x"s, ErrorCode::UriCharset));
  EXPECT_TRUE(rejectsWith("secret://acme/kv/x#f\0"s, ErrorCode::UriCharset));
  // UTF-8 in each component.
  EXPECT_TRUE(rejectsWith("secret://acm\xc3\xa9/kv/x", ErrorCode::UriCharset));
  EXPECT_TRUE(rejectsWith("secret://acme/kv/caf\xc3\xa9", ErrorCode::UriCharset));
  EXPECT_TRUE(rejectsWith("secret://acme/kv/x#\xe2\x82\xac", ErrorCode::UriCharset));
  // Leading / trailing whitespace is not trimmed.
  EXPECT_TRUE(rejectsWith(" secret://acme/kv/x", ErrorCode::UriCharset));
  EXPECT_TRUE(rejectsWith("secret://acme/kv/x\n", ErrorCode::UriCharset));
  EXPECT_TRUE(rejectsWith("secret://acme/kv/x?version=1 ", ErrorCode::UriCharset));
  EXPECT_TRUE(rejectsWith("secret://acme/kv/x\t#f", ErrorCode::UriCharset));
  // Charset is checked before the scheme.
  EXPECT_TRUE(rejectsWith("http://acme/kv/a b", ErrorCode::UriCharset));
}

// ---------------------------------------------------------------- scheme / authority

TEST(SecretUriParse, Scheme) {
  runCases({
      {"", ErrorCode::UriScheme},
      {"secret", ErrorCode::UriScheme},
      {"secret:", ErrorCode::UriScheme},
      {"secret:/acme/kv/x", ErrorCode::UriScheme},
      {"secret:acme/kv/x", ErrorCode::UriScheme},
      {"acme/kv/x", ErrorCode::UriScheme},
      {"://acme/kv/x", ErrorCode::UriScheme},
      {"secrets://acme/kv/x", ErrorCode::UriScheme},
      {"secre://acme/kv/x", ErrorCode::UriScheme},
      {"http://acme/kv/x", ErrorCode::UriScheme},
      {"vault://acme/kv/x", ErrorCode::UriScheme},
      {"xsecret://acme/kv/x", ErrorCode::UriScheme},
      {"secret%3A//acme/kv/x", ErrorCode::UriScheme},
      {"se%63ret://acme/kv/x", ErrorCode::UriScheme},
      {"SECRET://acme/kv/x", std::nullopt},
      {"Secret://acme/kv/x", std::nullopt},
      {"sEcReT://acme/kv/x", std::nullopt},
  });
}

TEST(SecretUriParse, Authority) {
  runCases({
      {"secret://user@acme/kv/x", ErrorCode::UriAuthority},
      {"secret://user:pw@acme/kv/x", ErrorCode::UriAuthority},
      {"secret://@acme/kv/x", ErrorCode::UriAuthority},
      {"secret://acme@/kv/x", ErrorCode::UriAuthority},
      {"secret://acme:8200/kv/x", ErrorCode::UriAuthority},
      {"secret://acme:/kv/x", ErrorCode::UriAuthority},
      {"secret://acme:0/kv/x", ErrorCode::UriAuthority},
      {"secret://:8200/kv/x", ErrorCode::UriAuthority},
      {"secret://[::1]/kv/x", ErrorCode::UriAuthority},
      // '@' / ':' after the authority are not userinfo / port; they fail elsewhere.
      {"secret://acme/kv/us@r", ErrorCode::UriPath},
      {"secret://acme/kv/a:b", ErrorCode::UriPath},
  });
}

// ---------------------------------------------------------------- tenant

TEST(SecretUriParse, Tenant) {
  const std::string t63 = "a" + std::string(61, 'b') + "c";
  const std::string t64 = "a" + std::string(62, 'b') + "c";
  ASSERT_EQ(t63.size(), 63u);
  ASSERT_EQ(t64.size(), 64u);
  runCases({
      {"secret:///kv/x", ErrorCode::UriTenant},
      {"secret://-acme/kv/x", ErrorCode::UriTenant},
      {"secret://acme-/kv/x", ErrorCode::UriTenant},
      {"secret://-/kv/x", ErrorCode::UriTenant},
      {"secret://ac_me/kv/x", ErrorCode::UriTenant},
      {"secret://ac.me/kv/x", ErrorCode::UriTenant},
      {"secret://ac~me/kv/x", ErrorCode::UriTenant},
      {"secret://ac!me/kv/x", ErrorCode::UriTenant},
      {"secret://ac$me/kv/x", ErrorCode::UriTenant},
      {"secret://ac+me/kv/x", ErrorCode::UriTenant},
      {"secret://ac,me/kv/x", ErrorCode::UriTenant},
      {"secret://sealgate-admin/kv/x", ErrorCode::UriTenant},
      {"secret://SEALGATE-ADMIN/kv/x", ErrorCode::UriTenant},
      {"secret://Sealgate-Admin/kv/x", ErrorCode::UriTenant},
      {"secret://sealgate-%61dmin/kv/x", ErrorCode::UriTenant},
      {"secret://" + t64 + "/kv/x", ErrorCode::UriTenant},
      {"secret://" + t63 + "/kv/x", std::nullopt},
      {"secret://sealgate/kv/x", std::nullopt},
      {"secret://sealgate-admins/kv/x", std::nullopt},
      {"secret://a/kv/x", std::nullopt},
      {"secret://1/kv/x", std::nullopt},
  });
}

TEST(SecretUriParse, TenantWithoutMountIsMountError) {
  // The tenant is fine; what is missing is the mount.
  EXPECT_TRUE(rejectsWith("secret://acme", ErrorCode::UriMount));
  EXPECT_TRUE(rejectsWith("secret://acme/", ErrorCode::UriMount));
  EXPECT_TRUE(rejectsWith("secret://acme?version=1", ErrorCode::UriMount));
  EXPECT_TRUE(rejectsWith("secret://acme#f", ErrorCode::UriMount));
  EXPECT_TRUE(rejectsWith("secret://acme//x", ErrorCode::UriMount));
}

// ---------------------------------------------------------------- mount

TEST(SecretUriParse, Mount) {
  const std::string m63 = "m" + std::string(62, 'x');
  const std::string m64 = "m" + std::string(63, 'x');
  runCases({
      {"secret://acme/_kv/x", ErrorCode::UriMount},
      {"secret://acme/-kv/x", ErrorCode::UriMount},
      {"secret://acme/k.v/x", ErrorCode::UriMount},
      {"secret://acme/k~v/x", ErrorCode::UriMount},
      {"secret://acme/k!v/x", ErrorCode::UriMount},
      {"secret://acme/k$v/x", ErrorCode::UriMount},
      {"secret://acme/k+v/x", ErrorCode::UriMount},
      {"secret://acme/k,v/x", ErrorCode::UriMount},
      {"secret://acme/" + m64 + "/x", ErrorCode::UriMount},
      {"secret://acme/" + m63 + "/x", std::nullopt},
      {"secret://acme/k/x", std::nullopt},
      {"secret://acme/KV/x", std::nullopt},
      {"secret://acme/kv_2-a/x", std::nullopt},
  });
}

// ---------------------------------------------------------------- path

TEST(SecretUriParse, PathSegmentCount) {
  EXPECT_TRUE(rejectsWith("secret://acme/kv", ErrorCode::UriPath));
  EXPECT_TRUE(rejectsWith("secret://acme/kv?version=1", ErrorCode::UriPath));
  EXPECT_TRUE(rejectsWith("secret://acme/kv#f", ErrorCode::UriPath));

  const std::string p1 = uri(segments(1));
  const std::string p32 = uri(segments(32));
  const std::string p33 = uri(segments(33));
  auto r = SecretUri::parse(p32);
  ASSERT_TRUE(r.ok()) << r.error().code;
  EXPECT_EQ(r->path().size(), 32u);
  EXPECT_TRUE(acceptsAs(p1, p1));
  EXPECT_TRUE(acceptsAs(p32, p32));
  EXPECT_TRUE(rejectsWith(p33, ErrorCode::UriPath));
  EXPECT_TRUE(rejectsWith(uri(segments(100)), ErrorCode::UriPath));
}

TEST(SecretUriParse, PathSegmentLength) {
  const std::string s128(128, 'a');
  const std::string s129(129, 'a');
  EXPECT_TRUE(acceptsAs(uri(s128), uri(s128)));
  EXPECT_TRUE(acceptsAs(uri("x/" + s128 + "/y"), uri("x/" + s128 + "/y")));
  EXPECT_TRUE(rejectsWith(uri(s129), ErrorCode::UriPath));
  EXPECT_TRUE(rejectsWith(uri("x/" + s129 + "/y"), ErrorCode::UriPath));
  EXPECT_TRUE(rejectsWith(uri(s129 + "?version=1#f"), ErrorCode::UriPath));

  // The limit applies after decoding: 128 characters written as 130 bytes is fine...
  const std::string enc128 = "%41" + std::string(127, 'a');
  EXPECT_TRUE(acceptsAs(uri(enc128), uri("A" + std::string(127, 'a'))));
  // ...and 129 decoded characters are rejected whatever their spelling.
  const std::string enc129 = "%41" + std::string(128, 'a');
  EXPECT_TRUE(rejectsWith(uri(enc129), ErrorCode::UriPath));
}

TEST(SecretUriParse, PathBadCharacters) {
  std::vector<Case> cases;
  for (char c : std::string_view("!$&'()*+,;=:@[]\"<>\\^`{|}")) {
    cases.push_back({uri(std::string("a") + c + "b"), ErrorCode::UriPath});
    cases.push_back({uri(std::string(1, c)), ErrorCode::UriPath});
  }
  runCases(cases);
}

TEST(SecretUriParse, PathEmptySegments) {
  runCases({
      {"secret://acme/kv/", ErrorCode::UriEmptySegment},
      {"secret://acme/kv//", ErrorCode::UriEmptySegment},
      {"secret://acme/kv//x", ErrorCode::UriEmptySegment},
      {"secret://acme/kv/a//b", ErrorCode::UriEmptySegment},
      {"secret://acme/kv/a/", ErrorCode::UriEmptySegment},
      {"secret://acme/kv/a/b/", ErrorCode::UriEmptySegment},
      {"secret://acme/kv/a/?version=1", ErrorCode::UriEmptySegment},
      {"secret://acme/kv/a/#f", ErrorCode::UriEmptySegment},
  });
}

// ---------------------------------------------------------------- percent-encoding

TEST(SecretUriParse, PercentEncodingRejected) {
  runCases({
      {uri("a%2Fb"), ErrorCode::UriEncoding},
      {uri("a%2fb"), ErrorCode::UriEncoding},
      {uri("a%00b"), ErrorCode::UriEncoding},
      {uri("a%20b"), ErrorCode::UriEncoding},
      {uri("a%25b"), ErrorCode::UriEncoding},  // '%' itself: no double decoding
      {uri("a%2541"), ErrorCode::UriEncoding},
      {uri("a%3Fb"), ErrorCode::UriEncoding},  // '?'
      {uri("a%23b"), ErrorCode::UriEncoding},  // '#'
      {uri("a%21b"), ErrorCode::UriEncoding},  // '!'
      {uri("a%7Fb"), ErrorCode::UriEncoding},
      {uri("a%80b"), ErrorCode::UriEncoding},
      {uri("a%FFb"), ErrorCode::UriEncoding},
      {uri("a%C3%A9"), ErrorCode::UriEncoding},
      {uri("a%zzb"), ErrorCode::UriEncoding},
      {uri("a%g1b"), ErrorCode::UriEncoding},
      {uri("a%1gb"), ErrorCode::UriEncoding},
      {uri("a%4"), ErrorCode::UriEncoding},
      {uri("a%"), ErrorCode::UriEncoding},
      {uri("%"), ErrorCode::UriEncoding},
      {uri("%4"), ErrorCode::UriEncoding},
      {uri("a%-1b"), ErrorCode::UriEncoding},
      {uri("a%4/b"), ErrorCode::UriEncoding},
      {uri("a%/b"), ErrorCode::UriEncoding},
      // In every component.
      {"secret://ac%2Fme/kv/x", ErrorCode::UriEncoding},
      {"secret://acme%/kv/x", ErrorCode::UriEncoding},
      {"secret://acme/k%2Fv/x", ErrorCode::UriEncoding},
      {"secret://acme/kv%4/x", ErrorCode::UriEncoding},
      {"secret://acme/kv/x?version=%00", ErrorCode::UriEncoding},
      {"secret://acme/kv/x?version=1%26x", ErrorCode::UriEncoding},
      {"secret://acme/kv/x?version=%", ErrorCode::UriEncoding},
      {"secret://acme/kv/x#a%2Fb", ErrorCode::UriEncoding},
      {"secret://acme/kv/x#a%zz", ErrorCode::UriEncoding},
      {"secret://acme/kv/x#a%4", ErrorCode::UriEncoding},
  });
}

TEST(SecretUriParse, PercentEncodingOfUnreservedIsDecoded) {
  EXPECT_TRUE(acceptsAs(uri("%41"), uri("A")));
  EXPECT_TRUE(acceptsAs(uri("%61"), uri("a")));
  EXPECT_TRUE(acceptsAs(uri("a%42c"), uri("aBc")));
  EXPECT_TRUE(acceptsAs(uri("%7e%7E"), uri("~~")));
  EXPECT_TRUE(acceptsAs(uri("%2D%2e%5F%30"), uri("-._0")));
  EXPECT_TRUE(acceptsAs(uri("x%2Ey"), uri("x.y")));
  // Tenant and mount are decoded then folded.
  EXPECT_TRUE(acceptsAs("secret://%41CME/%4Bv/x", "secret://acme/kv/x"));
  // Query and field are decoded too.
  EXPECT_TRUE(acceptsAs(uri("x?version=%31%32"), uri("x?version=12")));
  EXPECT_TRUE(acceptsAs(uri("x#%61pi_key"), uri("x#api_key")));
  // Decoded forms equal their plain spelling.
  auto a = SecretUri::parse(uri("%70ayments/%53tripe"));
  auto b = SecretUri::parse(uri("payments/Stripe"));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(*a == *b);
}

// ---------------------------------------------------------------- dot segments

TEST(SecretUriParse, Traversal) {
  runCases({
      {uri("."), ErrorCode::UriTraversal},
      {uri(".."), ErrorCode::UriTraversal},
      {uri("a/./b"), ErrorCode::UriTraversal},
      {uri("a/../b"), ErrorCode::UriTraversal},
      {uri("a/.."), ErrorCode::UriTraversal},
      {uri("../x"), ErrorCode::UriTraversal},
      {uri("..?version=1"), ErrorCode::UriTraversal},
      {uri("..#f"), ErrorCode::UriTraversal},
      {uri("%2E"), ErrorCode::UriTraversal},
      {uri("%2e"), ErrorCode::UriTraversal},
      {uri("%2E%2E"), ErrorCode::UriTraversal},
      {uri("%2e%2e"), ErrorCode::UriTraversal},
      {uri(".%2E"), ErrorCode::UriTraversal},
      {uri("%2E."), ErrorCode::UriTraversal},
      {uri("a/%2E%2E/b"), ErrorCode::UriTraversal},
      {"secret://acme/../x", ErrorCode::UriTraversal},
      {"secret://acme/./x", ErrorCode::UriTraversal},
      {"secret://acme/%2E%2E/x", ErrorCode::UriTraversal},
  });
}

// ---------------------------------------------------------------- query / version

TEST(SecretUriParse, Query) {
  runCases({
      {uri("x?"), ErrorCode::UriQuery},
      {uri("x?#f"), ErrorCode::UriQuery},
      {uri("x?v=1"), ErrorCode::UriQuery},
      {uri("x?ver=1"), ErrorCode::UriQuery},
      {uri("x?versions=1"), ErrorCode::UriQuery},
      {uri("x?VERSION=1"), ErrorCode::UriQuery},
      {uri("x?Version=1"), ErrorCode::UriQuery},
      {uri("x?version"), ErrorCode::UriQuery},
      {uri("x?field=a"), ErrorCode::UriQuery},
      {uri("x?a=b"), ErrorCode::UriQuery},
      {uri("x?x&version=1"), ErrorCode::UriQuery},
      {uri("x?&version=1"), ErrorCode::UriQuery},
      {uri("x?version=1&x"), ErrorCode::UriQuery},
      {uri("x?version=1&"), ErrorCode::UriQuery},
      {uri("x?version=1&x=2"), ErrorCode::UriQuery},
      {uri("x?version=1;x=2"), ErrorCode::UriQuery},
      {uri("x?version=1&version=1"), ErrorCode::UriQuery},
      {uri("x?version=1&version=2"), ErrorCode::UriQuery},
      {uri("x?version=1=2"), ErrorCode::UriQuery},
      {uri("x?version==1"), ErrorCode::UriQuery},
      {uri("x?version=1?version=2"), ErrorCode::UriQuery},
      {uri("x?version=1#f?version=2"), ErrorCode::UriField},  // '?' inside the fragment is the field's
  });
}

TEST(SecretUriParse, Version) {
  runCases({
      {uri("x?version="), ErrorCode::UriVersion},
      {uri("x?version=0"), ErrorCode::UriVersion},
      {uri("x?version=00"), ErrorCode::UriVersion},
      {uri("x?version=01"), ErrorCode::UriVersion},
      {uri("x?version=007"), ErrorCode::UriVersion},
      {uri("x?version=-1"), ErrorCode::UriVersion},
      {uri("x?version=+1"), ErrorCode::UriVersion},
      {uri("x?version=1.0"), ErrorCode::UriVersion},
      {uri("x?version=1e3"), ErrorCode::UriVersion},
      {uri("x?version=0x10"), ErrorCode::UriVersion},
      {uri("x?version=abc"), ErrorCode::UriVersion},
      {uri("x?version=1a"), ErrorCode::UriVersion},
      {uri("x?version=latest"), ErrorCode::UriVersion},
      {uri("x?version=2147483648"), ErrorCode::UriVersion},
      {uri("x?version=4294967295"), ErrorCode::UriVersion},
      {uri("x?version=4294967296"), ErrorCode::UriVersion},  // would wrap a uint32 to 0
      {uri("x?version=4294967299"), ErrorCode::UriVersion},  // would wrap a uint32 to 3
      {uri("x?version=9999999999"), ErrorCode::UriVersion},
      {uri("x?version=99999999999"), ErrorCode::UriVersion},
      {uri("x?version=18446744073709551617"), ErrorCode::UriVersion},  // would wrap a uint64 to 1
      {uri("x?version=1"), std::nullopt},
      {uri("x?version=9"), std::nullopt},
      {uri("x?version=10"), std::nullopt},
      {uri("x?version=2147483647"), std::nullopt},
  });
  auto r = SecretUri::parse(uri("x?version=2147483647"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->version(), 2147483647u);
  EXPECT_EQ(r->canonical(), uri("x?version=2147483647"));
  EXPECT_EQ(r->arn(), "arn:sealgate:secrets:v1:acme:kv/x:version=2147483647");
}

// ---------------------------------------------------------------- fragment / field

TEST(SecretUriParse, Field) {
  const std::string f128(128, 'f');
  const std::string f129(129, 'f');
  runCases({
      {uri("x#"), ErrorCode::UriField},
      {uri("x?version=1#"), ErrorCode::UriField},
      {uri("x#a b"), ErrorCode::UriCharset},
      {uri("x#a~b"), ErrorCode::UriField},
      {uri("x#a/b"), ErrorCode::UriField},
      {uri("x#a#b"), ErrorCode::UriField},
      {uri("x#a?b"), ErrorCode::UriField},
      {uri("x#a!"), ErrorCode::UriField},
      {uri("x#a$"), ErrorCode::UriField},
      {uri("x#a+"), ErrorCode::UriField},
      {uri("x#a,"), ErrorCode::UriField},
      {uri("x#a:b"), ErrorCode::UriField},
      {uri("x#a=b"), ErrorCode::UriField},
      {uri("x#%7E"), ErrorCode::UriField},  // decodes to '~', unreserved but not a field char
      {uri("x#" + f129), ErrorCode::UriField},
      {uri("x#" + f128), std::nullopt},
      {uri("x#f"), std::nullopt},
      {uri("x#API_Key.v-2"), std::nullopt},
  });
  // Field case is preserved.
  EXPECT_TRUE(acceptsAs(uri("x#API_Key"), uri("x#API_Key")));
}

// ---------------------------------------------------------------- normalization

TEST(SecretUriNormalize, CaseFoldingOfSchemeTenantMountOnly) {
  auto r = SecretUri::parse("SeCrEt://ACME-Corp/KV_Store/Payments/STRIPE?version=3#Api_Key");
  ASSERT_TRUE(r.ok()) << r.error().code;
  EXPECT_EQ(r->tenant(), "acme-corp");
  EXPECT_EQ(r->mount(), "kv_store");
  EXPECT_EQ(r->path(), (std::vector<std::string>{"Payments", "STRIPE"}));
  EXPECT_EQ(*r->field(), "Api_Key");
  EXPECT_EQ(r->canonical(), "secret://acme-corp/kv_store/Payments/STRIPE?version=3#Api_Key");
  EXPECT_EQ(r->canonicalWithoutVersionAndField(), "secret://acme-corp/kv_store/Payments/STRIPE");
  EXPECT_EQ(r->arn(), "arn:sealgate:secrets:v1:acme-corp:kv_store/Payments/STRIPE:version=3:field=Api_Key");
}

TEST(SecretUriNormalize, PathCaseIsSignificant) {
  auto lower = SecretUri::parse(uri("stripe"));
  auto upper = SecretUri::parse(uri("Stripe"));
  ASSERT_TRUE(lower.ok());
  ASSERT_TRUE(upper.ok());
  EXPECT_NE(lower->canonical(), upper->canonical());
  EXPECT_FALSE(*lower == *upper);
}

TEST(SecretUriNormalize, CanonicalOrdersVersionThenField) {
  EXPECT_TRUE(acceptsAs(uri("x?version=3#f"), uri("x?version=3#f")));
  EXPECT_TRUE(acceptsAs(uri("x?version=3"), uri("x?version=3")));
  EXPECT_TRUE(acceptsAs(uri("x#f"), uri("x#f")));
}

TEST(SecretUriNormalize, ArnMapping) {
  struct {
    const char* in;
    const char* arn;
  } const cases[] = {
      {"secret://acme/kv/payments/stripe?version=3#api_key",
       "arn:sealgate:secrets:v1:acme:kv/payments/stripe:version=3:field=api_key"},
      {"secret://acme/kv/payments/stripe", "arn:sealgate:secrets:v1:acme:kv/payments/stripe"},
      {"secret://acme/kv/payments/stripe?version=12", "arn:sealgate:secrets:v1:acme:kv/payments/stripe:version=12"},
      {"secret://acme/kv/payments/stripe#api_key", "arn:sealgate:secrets:v1:acme:kv/payments/stripe:field=api_key"},
      {"SECRET://ACME/DB/Role%41#username", "arn:sealgate:secrets:v1:acme:db/RoleA:field=username"},
      {"secret://t/m/a/b/c/d", "arn:sealgate:secrets:v1:t:m/a/b/c/d"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.in);
    auto r = SecretUri::parse(c.in);
    ASSERT_TRUE(r.ok()) << r.error().code;
    EXPECT_EQ(r->arn(), c.arn);
  }
}

TEST(SecretUriNormalize, CanonicalWithoutVersionAndField) {
  auto r = SecretUri::parse("secret://Acme/KV/a/B/c?version=5#f");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->canonicalWithoutVersionAndField(), "secret://acme/kv/a/B/c");
  EXPECT_EQ(r->joinedPath(), "a/B/c");
}

TEST(SecretUriNormalize, Idempotent) {
  const std::vector<std::string> inputs = {
      "secret://acme/kv/payments/stripe?version=3#api_key",
      "SECRET://ACME/KV/Payments/Stripe",
      "secret://%41cme/%4Bv/%41%42%43/x%2Ey?version=%31#%61pi",
      "secret://a/b/c#.",
      "secret://acme/kv/~/...",
      "secret://acme/kv/" + segments(32, std::string(20, 'z')),
      "secret://acme/kv/x?version=2147483647#" + std::string(128, 'F'),
  };
  for (const auto& in : inputs) {
    SCOPED_TRACE(in);
    auto first = SecretUri::parse(in);
    ASSERT_TRUE(first.ok()) << first.error().code;
    const std::string canon = first->canonical();
    EXPECT_LE(canon.size(), in.size());
    auto second = SecretUri::parse(canon);
    ASSERT_TRUE(second.ok()) << second.error().code;
    EXPECT_EQ(second->canonical(), canon);
    EXPECT_EQ(second->arn(), first->arn());
    EXPECT_TRUE(*second == *first);
  }
}

// ---------------------------------------------------------------- tenant guard

TEST(SecretUriTenantGuard, CheckTenant) {
  auto r = SecretUri::parse("secret://ACME/kv/x");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->checkTenant("acme").ok());
  for (std::string_view other : {"globex", "acme2", "acm", "ACME", "", "acme ", "sealgate-admin"}) {
    SCOPED_TRACE(std::string(other));
    auto g = r->checkTenant(other);
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.error().code, ErrorCode::UriTenantMismatch);
    EXPECT_EQ(g.error().message.find("acme"), std::string::npos);
  }
}

TEST(SecretUriTenantGuard, IsValidTenantName) {
  EXPECT_TRUE(isValidTenantName("acme"));
  EXPECT_TRUE(isValidTenantName("a"));
  EXPECT_TRUE(isValidTenantName("0"));
  EXPECT_TRUE(isValidTenantName("a-b"));
  EXPECT_TRUE(isValidTenantName("a--b"));
  EXPECT_TRUE(isValidTenantName("sealgate"));
  EXPECT_TRUE(isValidTenantName("a" + std::string(61, '-') + "z"));
  EXPECT_TRUE(isValidTenantName(std::string(63, 'x')));
  EXPECT_FALSE(isValidTenantName(std::string(64, 'x')));
  EXPECT_FALSE(isValidTenantName(""));
  EXPECT_FALSE(isValidTenantName("-"));
  EXPECT_FALSE(isValidTenantName("-a"));
  EXPECT_FALSE(isValidTenantName("a-"));
  EXPECT_FALSE(isValidTenantName("Acme"));  // already-lowercase input expected
  EXPECT_FALSE(isValidTenantName("ac_me"));
  EXPECT_FALSE(isValidTenantName("ac.me"));
  EXPECT_FALSE(isValidTenantName("ac me"));
  EXPECT_FALSE(isValidTenantName("sealgate-admin"));
  using namespace std::string_view_literals;
  EXPECT_FALSE(isValidTenantName("acme\0"sv));
}

// ---------------------------------------------------------------- non-leaky errors

TEST(SecretUriErrors, MessagesNeverEchoTheInput) {
  const std::string c = "CANARYxyz";
  const std::string lc = "canaryxyz";
  const std::vector<Case> cases = {
      {std::string(kBase) + c + "/" + std::string(1100, 'a'), ErrorCode::UriTooLong},
      {uri(c + "\x01"), ErrorCode::UriCharset},
      {uri(c + " x"), ErrorCode::UriCharset},
      {"secrets://acme/kv/" + c, ErrorCode::UriScheme},
      {c + "://acme/kv/x", ErrorCode::UriScheme},
      {"secret://" + c + "@acme/kv/" + c, ErrorCode::UriAuthority},
      {"secret://acme:1" + c + "/kv/" + c, ErrorCode::UriAuthority},
      {"secret://" + c + "_x/kv/" + c, ErrorCode::UriTenant},
      {"secret://acme/" + c + ".x/" + c, ErrorCode::UriMount},
      {"secret://acme/" + c + "?version=1", ErrorCode::UriPath},
      {uri(c + "!"), ErrorCode::UriPath},
      {uri(c + std::string(200, 'a')), ErrorCode::UriPath},
      {uri(c + "//x"), ErrorCode::UriEmptySegment},
      {uri(c + "%2F"), ErrorCode::UriEncoding},
      {uri(c + "/../x"), ErrorCode::UriTraversal},
      {uri(c + "?" + c + "=1"), ErrorCode::UriQuery},
      {uri(c + "?version=" + c), ErrorCode::UriVersion},
      {uri(c + "#" + c + "!"), ErrorCode::UriField},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(::testing::Message() << k);
    auto r = SecretUri::parse(k.input);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, k.code);
    EXPECT_FALSE(r.error().message.empty());
    EXPECT_EQ(r.error().message.find(c), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find(lc), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().describe().find(c), std::string::npos);
  }
  // Out-of-range versions: the value itself is not echoed either.
  for (const char* v : {"9999999999", "8888888888", "2147483648"}) {
    SCOPED_TRACE(v);
    auto r = SecretUri::parse(uri(c + "?version=" + v));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::UriVersion);
    EXPECT_EQ(r.error().message.find(v), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find(c), std::string::npos) << r.error().message;
  }
  auto ok = SecretUri::parse("secret://acme/kv/" + c);
  ASSERT_TRUE(ok.ok());
  auto g = ok->checkTenant("other");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().message.find(c), std::string::npos);
}

TEST(SecretUriErrors, EveryErrorCodeIsUriPrefixed) {
  const char* const inputs[] = {"",
                                "x",
                                "secret://",
                                "secret://a",
                                "secret://a/b",
                                "secret://a/b/",
                                "secret://a/b/c?",
                                "secret://a/b/c#",
                                "secret://a/b/%"};
  for (const char* in : inputs) {
    SCOPED_TRACE(in);
    auto r = SecretUri::parse(in);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(std::string_view(errorCodeName(r.error().code)).starts_with("URI_")) << r.error().code;
  }
}

}  // namespace
}  // namespace sealgate
