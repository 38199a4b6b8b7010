// Tests of the canonical secret URI grammar: docs/DESIGN.md "Canonical secret URIs".
#include "core/secret_uri.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace sealgate {
namespace {

constexpr std::string_view kBase = "secret://acme/kv/";

// Expects `input` to be rejected with `code`; returns the error for further checks.
::testing::AssertionResult rejectsWith(std::string_view input, std::string_view code) {
  auto r = SecretUri::parse(input);
  if (r.ok()) {
    return ::testing::AssertionFailure() << "accepted, canonical=" << r->canonical()
                                         << ", expected " << code;
  }
  if (r.error().code != code) {
    return ::testing::AssertionFailure() << "code " << r.error().code << " (" << r.error().message
                                         << "), expected " << code;
  }
  return ::testing::AssertionSuccess();
}

// Expects `input` to be accepted with the given canonical form.
::testing::AssertionResult acceptsAs(std::string_view input, std::string_view canonical) {
  auto r = SecretUri::parse(input);
  if (!r.ok()) {
    return ::testing::AssertionFailure() << "rejected with " << r.error().code << " ("
                                         << r.error().message << "), expected " << canonical;
  }
  if (r->canonical() != canonical) {
    return ::testing::AssertionFailure() << "canonical " << r->canonical() << ", expected "
                                         << canonical;
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
  const char* code;  // nullptr: accepted
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << '"' << c.input << "\" -> " << (c.code ? c.code : "OK");
}

void runCases(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << c);
    auto r = SecretUri::parse(c.input);
    if (c.code == nullptr) {
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().code + ": " + r.error().message);
    } else {
      EXPECT_TRUE(rejectsWith(c.input, c.code));
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
      {"secret://acme/kv/x", nullptr},
      {"secret://acme/kv/a/b/c", nullptr},
      {"secret://acme/kv/x?version=1", nullptr},
      {"secret://acme/kv/x#f", nullptr},
      {"secret://acme/kv/x?version=7#f", nullptr},
      {"secret://acme/db/role#username", nullptr},
      {"secret://acme/db/role#password", nullptr},
      {"secret://0/0/0", nullptr},
      {"secret://a-b/kv/x", nullptr},
      {"secret://a--b/kv/x", nullptr},
      {"secret://9tenant9/kv/x", nullptr},
      {"secret://acme/k_v-2/x", nullptr},
      {"secret://acme/kv_/x", nullptr},   // mount may end with '_' or '-'
      {"secret://acme/kv-/x", nullptr},
      {"secret://acme/kv/A.b_c~d-e", nullptr},
      {"secret://acme/kv/...", nullptr},  // three dots is not a dot segment
      {"secret://acme/kv/.hidden", nullptr},
      {"secret://acme/kv/..x", nullptr},
      {"secret://acme/kv/~", nullptr},
      {"secret://acme/kv/x#A.b-c_9", nullptr},
      {"secret://acme/kv/x#.", nullptr},  // field '.' is within [A-Za-z0-9_.-]
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
  EXPECT_TRUE(rejectsWith(over, "URI_TOO_LONG"));

  // The length check does not care what the bytes are.
  EXPECT_TRUE(rejectsWith(std::string(1025, 'a'), "URI_TOO_LONG"));
  EXPECT_TRUE(rejectsWith(std::string(5000, '\0'), "URI_TOO_LONG"));
  // Field and query count toward the limit too.
  std::string withField = uri("x#") + std::string(1024 - uri("x#").size(), 'f');
  ASSERT_EQ(withField.size(), 1024u);
  EXPECT_TRUE(rejectsWith(withField, "URI_FIELD"));  // field too long, but not TOO_LONG
  EXPECT_TRUE(rejectsWith(withField + "f", "URI_TOO_LONG"));
}

TEST(SecretUriParse, Charset) {
  std::vector<Case> cases;
  for (int c = 0; c <= 0x20; ++c) {
    cases.push_back({uri("a") + static_cast<char>(c) + "b", "URI_CHARSET"});
  }
  cases.push_back({uri("a") + '\x7f' + "b", "URI_CHARSET"});
  for (int c : {0x80, 0xa0, 0xc3, 0xff}) {
    cases.push_back({uri("a") + static_cast<char>(c) + "b", "URI_CHARSET"});
  }
  runCases(cases);

  // Embedded NUL anywhere, including the scheme and after the fragment mark.
  using namespace std::string_literals;
  EXPECT_TRUE(rejectsWith("secret://acme/kv/x\0"s, "URI_CHARSET"));
  EXPECT_TRUE(rejectsWith("\0secret://acme/kv/x"s, "URI_CHARSET"));
  EXPECT_TRUE(rejectsWith("secret://acme/kv/x#f\0"s, "URI_CHARSET"));
  // UTF-8 in each component.
  EXPECT_TRUE(rejectsWith("secret://acm\xc3\xa9/kv/x", "URI_CHARSET"));
  EXPECT_TRUE(rejectsWith("secret://acme/kv/caf\xc3\xa9", "URI_CHARSET"));
  EXPECT_TRUE(rejectsWith("secret://acme/kv/x#\xe2\x82\xac", "URI_CHARSET"));
  // Leading / trailing whitespace is not trimmed.
  EXPECT_TRUE(rejectsWith(" secret://acme/kv/x", "URI_CHARSET"));
  EXPECT_TRUE(rejectsWith("secret://acme/kv/x\n", "URI_CHARSET"));
  EXPECT_TRUE(rejectsWith("secret://acme/kv/x?version=1 ", "URI_CHARSET"));
  EXPECT_TRUE(rejectsWith("secret://acme/kv/x\t#f", "URI_CHARSET"));
  // Charset is checked before the scheme.
  EXPECT_TRUE(rejectsWith("http://acme/kv/a b", "URI_CHARSET"));
}

// ---------------------------------------------------------------- scheme / authority

TEST(SecretUriParse, Scheme) {
  runCases({
      {"", "URI_SCHEME"},
      {"secret", "URI_SCHEME"},
      {"secret:", "URI_SCHEME"},
      {"secret:/acme/kv/x", "URI_SCHEME"},
      {"secret:acme/kv/x", "URI_SCHEME"},
      {"acme/kv/x", "URI_SCHEME"},
      {"://acme/kv/x", "URI_SCHEME"},
      {"secrets://acme/kv/x", "URI_SCHEME"},
      {"secre://acme/kv/x", "URI_SCHEME"},
      {"http://acme/kv/x", "URI_SCHEME"},
      {"vault://acme/kv/x", "URI_SCHEME"},
      {"xsecret://acme/kv/x", "URI_SCHEME"},
      {"secret%3A//acme/kv/x", "URI_SCHEME"},
      {"se%63ret://acme/kv/x", "URI_SCHEME"},
      {"SECRET://acme/kv/x", nullptr},
      {"Secret://acme/kv/x", nullptr},
      {"sEcReT://acme/kv/x", nullptr},
  });
}

TEST(SecretUriParse, Authority) {
  runCases({
      {"secret://user@acme/kv/x", "URI_AUTHORITY"},
      {"secret://user:pw@acme/kv/x", "URI_AUTHORITY"},
      {"secret://@acme/kv/x", "URI_AUTHORITY"},
      {"secret://acme@/kv/x", "URI_AUTHORITY"},
      {"secret://acme:8200/kv/x", "URI_AUTHORITY"},
      {"secret://acme:/kv/x", "URI_AUTHORITY"},
      {"secret://acme:0/kv/x", "URI_AUTHORITY"},
      {"secret://:8200/kv/x", "URI_AUTHORITY"},
      {"secret://[::1]/kv/x", "URI_AUTHORITY"},
      // '@' / ':' after the authority are not userinfo / port; they fail elsewhere.
      {"secret://acme/kv/us@r", "URI_PATH"},
      {"secret://acme/kv/a:b", "URI_PATH"},
  });
}

// ---------------------------------------------------------------- tenant

TEST(SecretUriParse, Tenant) {
  const std::string t63 = "a" + std::string(61, 'b') + "c";
  const std::string t64 = "a" + std::string(62, 'b') + "c";
  ASSERT_EQ(t63.size(), 63u);
  ASSERT_EQ(t64.size(), 64u);
  runCases({
      {"secret:///kv/x", "URI_TENANT"},
      {"secret://-acme/kv/x", "URI_TENANT"},
      {"secret://acme-/kv/x", "URI_TENANT"},
      {"secret://-/kv/x", "URI_TENANT"},
      {"secret://ac_me/kv/x", "URI_TENANT"},
      {"secret://ac.me/kv/x", "URI_TENANT"},
      {"secret://ac~me/kv/x", "URI_TENANT"},
      {"secret://ac!me/kv/x", "URI_TENANT"},
      {"secret://ac$me/kv/x", "URI_TENANT"},
      {"secret://ac+me/kv/x", "URI_TENANT"},
      {"secret://ac,me/kv/x", "URI_TENANT"},
      {"secret://sealgate-admin/kv/x", "URI_TENANT"},
      {"secret://SEALGATE-ADMIN/kv/x", "URI_TENANT"},
      {"secret://Sealgate-Admin/kv/x", "URI_TENANT"},
      {"secret://sealgate-%61dmin/kv/x", "URI_TENANT"},
      {"secret://" + t64 + "/kv/x", "URI_TENANT"},
      {"secret://" + t63 + "/kv/x", nullptr},
      {"secret://sealgate/kv/x", nullptr},
      {"secret://sealgate-admins/kv/x", nullptr},
      {"secret://a/kv/x", nullptr},
      {"secret://1/kv/x", nullptr},
  });
}

TEST(SecretUriParse, TenantWithoutMountIsMountError) {
  // The tenant is fine; what is missing is the mount.
  EXPECT_TRUE(rejectsWith("secret://acme", "URI_MOUNT"));
  EXPECT_TRUE(rejectsWith("secret://acme/", "URI_MOUNT"));
  EXPECT_TRUE(rejectsWith("secret://acme?version=1", "URI_MOUNT"));
  EXPECT_TRUE(rejectsWith("secret://acme#f", "URI_MOUNT"));
  EXPECT_TRUE(rejectsWith("secret://acme//x", "URI_MOUNT"));
}

// ---------------------------------------------------------------- mount

TEST(SecretUriParse, Mount) {
  const std::string m63 = "m" + std::string(62, 'x');
  const std::string m64 = "m" + std::string(63, 'x');
  runCases({
      {"secret://acme/_kv/x", "URI_MOUNT"},
      {"secret://acme/-kv/x", "URI_MOUNT"},
      {"secret://acme/k.v/x", "URI_MOUNT"},
      {"secret://acme/k~v/x", "URI_MOUNT"},
      {"secret://acme/k!v/x", "URI_MOUNT"},
      {"secret://acme/k$v/x", "URI_MOUNT"},
      {"secret://acme/k+v/x", "URI_MOUNT"},
      {"secret://acme/k,v/x", "URI_MOUNT"},
      {"secret://acme/" + m64 + "/x", "URI_MOUNT"},
      {"secret://acme/" + m63 + "/x", nullptr},
      {"secret://acme/k/x", nullptr},
      {"secret://acme/KV/x", nullptr},
      {"secret://acme/kv_2-a/x", nullptr},
  });
}

// ---------------------------------------------------------------- path

TEST(SecretUriParse, PathSegmentCount) {
  EXPECT_TRUE(rejectsWith("secret://acme/kv", "URI_PATH"));
  EXPECT_TRUE(rejectsWith("secret://acme/kv?version=1", "URI_PATH"));
  EXPECT_TRUE(rejectsWith("secret://acme/kv#f", "URI_PATH"));

  const std::string p1 = uri(segments(1));
  const std::string p32 = uri(segments(32));
  const std::string p33 = uri(segments(33));
  auto r = SecretUri::parse(p32);
  ASSERT_TRUE(r.ok()) << r.error().code;
  EXPECT_EQ(r->path().size(), 32u);
  EXPECT_TRUE(acceptsAs(p1, p1));
  EXPECT_TRUE(acceptsAs(p32, p32));
  EXPECT_TRUE(rejectsWith(p33, "URI_PATH"));
  EXPECT_TRUE(rejectsWith(uri(segments(100)), "URI_PATH"));
}

TEST(SecretUriParse, PathSegmentLength) {
  const std::string s128(128, 'a');
  const std::string s129(129, 'a');
  EXPECT_TRUE(acceptsAs(uri(s128), uri(s128)));
  EXPECT_TRUE(acceptsAs(uri("x/" + s128 + "/y"), uri("x/" + s128 + "/y")));
  EXPECT_TRUE(rejectsWith(uri(s129), "URI_PATH"));
  EXPECT_TRUE(rejectsWith(uri("x/" + s129 + "/y"), "URI_PATH"));
  EXPECT_TRUE(rejectsWith(uri(s129 + "?version=1#f"), "URI_PATH"));

  // The limit applies after decoding: 128 characters written as 130 bytes is fine...
  const std::string enc128 = "%41" + std::string(127, 'a');
  EXPECT_TRUE(acceptsAs(uri(enc128), uri("A" + std::string(127, 'a'))));
  // ...and 129 decoded characters are rejected whatever their spelling.
  const std::string enc129 = "%41" + std::string(128, 'a');
  EXPECT_TRUE(rejectsWith(uri(enc129), "URI_PATH"));
}

TEST(SecretUriParse, PathBadCharacters) {
  std::vector<Case> cases;
  for (char c : std::string_view("!$&'()*+,;=:@[]\"<>\\^`{|}")) {
    cases.push_back({uri(std::string("a") + c + "b"), "URI_PATH"});
    cases.push_back({uri(std::string(1, c)), "URI_PATH"});
  }
  runCases(cases);
}

TEST(SecretUriParse, PathEmptySegments) {
  runCases({
      {"secret://acme/kv/", "URI_EMPTY_SEGMENT"},
      {"secret://acme/kv//", "URI_EMPTY_SEGMENT"},
      {"secret://acme/kv//x", "URI_EMPTY_SEGMENT"},
      {"secret://acme/kv/a//b", "URI_EMPTY_SEGMENT"},
      {"secret://acme/kv/a/", "URI_EMPTY_SEGMENT"},
      {"secret://acme/kv/a/b/", "URI_EMPTY_SEGMENT"},
      {"secret://acme/kv/a/?version=1", "URI_EMPTY_SEGMENT"},
      {"secret://acme/kv/a/#f", "URI_EMPTY_SEGMENT"},
  });
}

// ---------------------------------------------------------------- percent-encoding

TEST(SecretUriParse, PercentEncodingRejected) {
  runCases({
      {uri("a%2Fb"), "URI_ENCODING"},
      {uri("a%2fb"), "URI_ENCODING"},
      {uri("a%00b"), "URI_ENCODING"},
      {uri("a%20b"), "URI_ENCODING"},
      {uri("a%25b"), "URI_ENCODING"},  // '%' itself: no double decoding
      {uri("a%2541"), "URI_ENCODING"},
      {uri("a%3Fb"), "URI_ENCODING"},  // '?'
      {uri("a%23b"), "URI_ENCODING"},  // '#'
      {uri("a%21b"), "URI_ENCODING"},  // '!'
      {uri("a%7Fb"), "URI_ENCODING"},
      {uri("a%80b"), "URI_ENCODING"},
      {uri("a%FFb"), "URI_ENCODING"},
      {uri("a%C3%A9"), "URI_ENCODING"},
      {uri("a%zzb"), "URI_ENCODING"},
      {uri("a%g1b"), "URI_ENCODING"},
      {uri("a%1gb"), "URI_ENCODING"},
      {uri("a%4"), "URI_ENCODING"},
      {uri("a%"), "URI_ENCODING"},
      {uri("%"), "URI_ENCODING"},
      {uri("%4"), "URI_ENCODING"},
      {uri("a%-1b"), "URI_ENCODING"},
      {uri("a%4/b"), "URI_ENCODING"},
      {uri("a%/b"), "URI_ENCODING"},
      // In every component.
      {"secret://ac%2Fme/kv/x", "URI_ENCODING"},
      {"secret://acme%/kv/x", "URI_ENCODING"},
      {"secret://acme/k%2Fv/x", "URI_ENCODING"},
      {"secret://acme/kv%4/x", "URI_ENCODING"},
      {"secret://acme/kv/x?version=%00", "URI_ENCODING"},
      {"secret://acme/kv/x?version=1%26x", "URI_ENCODING"},
      {"secret://acme/kv/x?version=%", "URI_ENCODING"},
      {"secret://acme/kv/x#a%2Fb", "URI_ENCODING"},
      {"secret://acme/kv/x#a%zz", "URI_ENCODING"},
      {"secret://acme/kv/x#a%4", "URI_ENCODING"},
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
      {uri("."), "URI_TRAVERSAL"},
      {uri(".."), "URI_TRAVERSAL"},
      {uri("a/./b"), "URI_TRAVERSAL"},
      {uri("a/../b"), "URI_TRAVERSAL"},
      {uri("a/.."), "URI_TRAVERSAL"},
      {uri("../x"), "URI_TRAVERSAL"},
      {uri("..?version=1"), "URI_TRAVERSAL"},
      {uri("..#f"), "URI_TRAVERSAL"},
      {uri("%2E"), "URI_TRAVERSAL"},
      {uri("%2e"), "URI_TRAVERSAL"},
      {uri("%2E%2E"), "URI_TRAVERSAL"},
      {uri("%2e%2e"), "URI_TRAVERSAL"},
      {uri(".%2E"), "URI_TRAVERSAL"},
      {uri("%2E."), "URI_TRAVERSAL"},
      {uri("a/%2E%2E/b"), "URI_TRAVERSAL"},
      {"secret://acme/../x", "URI_TRAVERSAL"},
      {"secret://acme/./x", "URI_TRAVERSAL"},
      {"secret://acme/%2E%2E/x", "URI_TRAVERSAL"},
  });
}

// ---------------------------------------------------------------- query / version

TEST(SecretUriParse, Query) {
  runCases({
      {uri("x?"), "URI_QUERY"},
      {uri("x?#f"), "URI_QUERY"},
      {uri("x?v=1"), "URI_QUERY"},
      {uri("x?ver=1"), "URI_QUERY"},
      {uri("x?versions=1"), "URI_QUERY"},
      {uri("x?VERSION=1"), "URI_QUERY"},
      {uri("x?Version=1"), "URI_QUERY"},
      {uri("x?version"), "URI_QUERY"},
      {uri("x?field=a"), "URI_QUERY"},
      {uri("x?a=b"), "URI_QUERY"},
      {uri("x?x&version=1"), "URI_QUERY"},
      {uri("x?&version=1"), "URI_QUERY"},
      {uri("x?version=1&x"), "URI_QUERY"},
      {uri("x?version=1&"), "URI_QUERY"},
      {uri("x?version=1&x=2"), "URI_QUERY"},
      {uri("x?version=1;x=2"), "URI_QUERY"},
      {uri("x?version=1&version=1"), "URI_QUERY"},
      {uri("x?version=1&version=2"), "URI_QUERY"},
      {uri("x?version=1=2"), "URI_QUERY"},
      {uri("x?version==1"), "URI_QUERY"},
      {uri("x?version=1?version=2"), "URI_QUERY"},
      {uri("x?version=1#f?version=2"), "URI_FIELD"},  // '?' inside the fragment is the field's
  });
}

TEST(SecretUriParse, Version) {
  runCases({
      {uri("x?version="), "URI_VERSION"},
      {uri("x?version=0"), "URI_VERSION"},
      {uri("x?version=00"), "URI_VERSION"},
      {uri("x?version=01"), "URI_VERSION"},
      {uri("x?version=007"), "URI_VERSION"},
      {uri("x?version=-1"), "URI_VERSION"},
      {uri("x?version=+1"), "URI_VERSION"},
      {uri("x?version=1.0"), "URI_VERSION"},
      {uri("x?version=1e3"), "URI_VERSION"},
      {uri("x?version=0x10"), "URI_VERSION"},
      {uri("x?version=abc"), "URI_VERSION"},
      {uri("x?version=1a"), "URI_VERSION"},
      {uri("x?version=latest"), "URI_VERSION"},
      {uri("x?version=2147483648"), "URI_VERSION"},
      {uri("x?version=4294967295"), "URI_VERSION"},
      {uri("x?version=4294967296"), "URI_VERSION"},  // would wrap a uint32 to 0
      {uri("x?version=4294967299"), "URI_VERSION"},  // would wrap a uint32 to 3
      {uri("x?version=9999999999"), "URI_VERSION"},
      {uri("x?version=99999999999"), "URI_VERSION"},
      {uri("x?version=18446744073709551617"), "URI_VERSION"},  // would wrap a uint64 to 1
      {uri("x?version=1"), nullptr},
      {uri("x?version=9"), nullptr},
      {uri("x?version=10"), nullptr},
      {uri("x?version=2147483647"), nullptr},
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
      {uri("x#"), "URI_FIELD"},
      {uri("x?version=1#"), "URI_FIELD"},
      {uri("x#a b"), "URI_CHARSET"},
      {uri("x#a~b"), "URI_FIELD"},
      {uri("x#a/b"), "URI_FIELD"},
      {uri("x#a#b"), "URI_FIELD"},
      {uri("x#a?b"), "URI_FIELD"},
      {uri("x#a!"), "URI_FIELD"},
      {uri("x#a$"), "URI_FIELD"},
      {uri("x#a+"), "URI_FIELD"},
      {uri("x#a,"), "URI_FIELD"},
      {uri("x#a:b"), "URI_FIELD"},
      {uri("x#a=b"), "URI_FIELD"},
      {uri("x#%7E"), "URI_FIELD"},  // decodes to '~', unreserved but not a field char
      {uri("x#" + f129), "URI_FIELD"},
      {uri("x#" + f128), nullptr},
      {uri("x#f"), nullptr},
      {uri("x#API_Key.v-2"), nullptr},
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
      {"secret://acme/kv/payments/stripe?version=12",
       "arn:sealgate:secrets:v1:acme:kv/payments/stripe:version=12"},
      {"secret://acme/kv/payments/stripe#api_key",
       "arn:sealgate:secrets:v1:acme:kv/payments/stripe:field=api_key"},
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
    EXPECT_EQ(g.error().code, "URI_TENANT_MISMATCH");
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
      {std::string(kBase) + c + "/" + std::string(1100, 'a'), "URI_TOO_LONG"},
      {uri(c + "\x01"), "URI_CHARSET"},
      {uri(c + " x"), "URI_CHARSET"},
      {"secrets://acme/kv/" + c, "URI_SCHEME"},
      {c + "://acme/kv/x", "URI_SCHEME"},
      {"secret://" + c + "@acme/kv/" + c, "URI_AUTHORITY"},
      {"secret://acme:1" + c + "/kv/" + c, "URI_AUTHORITY"},
      {"secret://" + c + "_x/kv/" + c, "URI_TENANT"},
      {"secret://acme/" + c + ".x/" + c, "URI_MOUNT"},
      {"secret://acme/" + c + "?version=1", "URI_PATH"},
      {uri(c + "!"), "URI_PATH"},
      {uri(c + std::string(200, 'a')), "URI_PATH"},
      {uri(c + "//x"), "URI_EMPTY_SEGMENT"},
      {uri(c + "%2F"), "URI_ENCODING"},
      {uri(c + "/../x"), "URI_TRAVERSAL"},
      {uri(c + "?" + c + "=1"), "URI_QUERY"},
      {uri(c + "?version=" + c), "URI_VERSION"},
      {uri(c + "#" + c + "!"), "URI_FIELD"},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(::testing::Message() << k.code);
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
    EXPECT_EQ(r.error().code, "URI_VERSION");
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
  const char* const inputs[] = {"", "x", "secret://", "secret://a", "secret://a/b", "secret://a/b/",
                                "secret://a/b/c?", "secret://a/b/c#", "secret://a/b/%"};
  for (const char* in : inputs) {
    SCOPED_TRACE(in);
    auto r = SecretUri::parse(in);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code.rfind("URI_", 0), 0u) << r.error().code;
  }
}

}  // namespace
}  // namespace sealgate
