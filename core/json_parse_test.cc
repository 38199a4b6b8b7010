#include "core/json_parse.h"

#include <gtest/gtest.h>

#include <string>

#include "core/egress_guard.h"
#include "core/jws.h"
#include "core/slot_template.h"
#include "tests/support/deep_json.h"

namespace sealgate {
namespace {

using nlohmann::json;

std::string nestedArrays(std::size_t depth, std::string_view inner = "") {
  return std::string(depth, '[') + std::string(inner) + std::string(depth, ']');
}

std::string nestedObjects(std::size_t depth) {
  std::string out;
  for (std::size_t i = 0; i < depth; ++i) out += "{\"a\":";
  out += "1";
  out += std::string(depth, '}');
  return out;
}

json deepInMemory(std::size_t depth, const json& leaf) { return testing::deepJson(depth, leaf); }

// ---- depth ---------------------------------------------------------------------

TEST(ParseJson, AcceptsTheDocumentedDepthAndRefusesOneMore) {
  ASSERT_EQ(kMaxJsonDepth, 32u);
  for (const auto& ok :
       {nestedArrays(32), nestedObjects(32), nestedArrays(30, "{\"k\":[]}"), nestedArrays(32, "1,2")}) {
    auto r = parseJson(ok);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(jsonDepth(*r), 32u);
  }
  for (const auto& deep : {nestedArrays(33), nestedObjects(33), nestedArrays(32, "{}"),
                           nestedArrays(31, "{\"k\":[{}]}"), "{\"a\":" + nestedArrays(32) + "}"}) {
    auto r = parseJson(deep);
    ASSERT_FALSE(r) << deep;
    EXPECT_EQ(r.error().code, json_errc::kTooDeep);
    EXPECT_NE(r.error().message.find("32"), std::string::npos) << r.error().message;
  }
}

TEST(ParseJson, TheAttackBodyIsRefusedWithoutBuildingIt) {
  // The reported attack: a 64 KB execute body whose connector field holds 32,000
  // nested arrays (it overflowed the stack of the slot walker).
  const std::string attack =
      R"({"grant":"g","slots":{"s":"secret://acme/kv/a#b"},"action":{"connector":"postgres","port":)" +
      nestedArrays(32000) + "}}";
  auto r = parseJson(attack);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, json_errc::kTooDeep);
  // Unclosed, much deeper: refused at the 33rd bracket, long before the end.
  auto open = parseJson(std::string(1'000'000, '['));
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error().code, json_errc::kTooDeep);
}

TEST(ParseJson, DepthIsAnOptionForTheDaemonsOwnText) {
  EXPECT_EQ(kMaxInternalJsonDepth, 64u);
  EXPECT_TRUE(parseJson(nestedArrays(40), {.maxDepth = kMaxInternalJsonDepth}));
  EXPECT_FALSE(parseInternalJson(nestedArrays(64)).is_discarded());
  EXPECT_TRUE(parseInternalJson(nestedArrays(65)).is_discarded());
  EXPECT_TRUE(parseJsonOrDiscarded(nestedArrays(33)).is_discarded());
  EXPECT_FALSE(parseJsonOrDiscarded(nestedArrays(32)).is_discarded());
}

// ---- duplicate keys ------------------------------------------------------------------

TEST(ParseJson, RefusesARepeatedKeyAtAnyLevel) {
  for (const char* dup : {R"({"uri":"a","uri":"b"})", R"({"a":{"x":1,"y":2,"x":3}})", R"([{"k":1},{"k":1,"k":1}])",
                          R"({"a":1,"\u0061":2})",  // the same key once unescaped
                          R"({"":1,"":2})"}) {
    auto r = parseJson(dup);
    ASSERT_FALSE(r) << dup;
    EXPECT_EQ(r.error().code, json_errc::kDuplicateKey) << dup;
  }
  auto named = parseJson(R"({"uri":"a","uri":"b"})");
  EXPECT_NE(named.error().message.find("\"uri\""), std::string::npos) << named.error().message;
  // A key that could be caller data of any shape is not echoed.
  auto unnamed = parseJson(R"({"secret://acme/kv/x":1,"secret://acme/kv/x":2})");
  ASSERT_FALSE(unnamed);
  EXPECT_EQ(unnamed.error().message.find("secret://"), std::string::npos) << unnamed.error().message;
  // The same key in different objects, or differing only in case, is fine.
  auto ok = parseJson(R"({"a":{"k":1},"b":{"k":2},"K":3,"k":4,"l":[{"k":1},{"k":2}]})");
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)["b"]["k"], 2);
}

// ---- malformed -----------------------------------------------------------------------

TEST(ParseJson, RefusesAnythingButOneWellFormedValue) {
  for (const char* bad : {"", " ", "{", "{\"a\":1}x", "{\"a\":1} {}", "[1,]", "{'a':1}", "NaN", "[1e999]", "\"\x01\"",
                          "// c\n{}", "{\"a\":\"\xff\"}"}) {
    auto r = parseJson(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, json_errc::kBadJson) << bad;
  }
  EXPECT_TRUE(parseJson("// operator files may comment\n{\"a\":1 /* x */}", {.allowComments = true}));
  auto scalars = parseJson(R"({"n":null,"t":true,"i":-3,"u":18446744073709551615,"f":1.5,"s":"\u00e9"})");
  ASSERT_TRUE(scalars);
  EXPECT_TRUE((*scalars)["u"].is_number_unsigned());
  EXPECT_EQ((*scalars)["s"], "\xc3\xa9");
  EXPECT_EQ(*parseJson("[]"), json::array());
}

TEST(ParseJson, ErrorsNeverQuoteTheInput) {
  for (const char* text :
       {R"({"password":"hunter2-value")", R"({"password":"hunter2-value",})", R"(["hunter2-value" x])"}) {
    auto r = parseJson(text);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.find("hunter2"), std::string::npos) << r.error().message;
  }
}

TEST(ParseJson, RoundTripsWhatItAccepts) {
  const std::string text = R"({"a":[1,2,{"b":null,"c":[true,false]}],"d":{"e":"f"},"g":-0.25})";
  auto r = parseJson(text);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, json::parse(text));
  std::vector<std::uint8_t> bytes(text.begin(), text.end());
  EXPECT_EQ(*parseJson(std::span<const std::uint8_t>(bytes)), *r);
}

// ---- JWS: header and payload go through the same parser ----------------------------

std::string b64(std::string_view s) {
  return base64UrlNoPad(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

TEST(ParseJson, CompactJwsRefusesRepeatedOrDeepMembers) {
  const std::string sig = b64(std::string(64, 'x'));
  const std::string okHeader = b64(R"({"alg":"ES256","typ":"dpop+jwt"})");
  const std::string okPayload = b64(R"({"htu":"https://a/","htm":"POST"})");
  ASSERT_TRUE(parseCompactJws(okHeader + "." + okPayload + "." + sig));
  struct Case {
    std::string token;
    const char* why;
  } cases[] = {
      {b64(R"({"alg":"ES256","alg":"none","typ":"dpop+jwt"})") + "." + okPayload + "." + sig, "JSON_DUPLICATE_KEY"},
      {okHeader + "." + b64(R"({"htu":"https://a/","htu":"https://evil/","htm":"POST"})") + "." + sig,
       "JSON_DUPLICATE_KEY"},
      {okHeader + "." + b64(R"({"htu":"x","nested":)" + nestedArrays(40) + "}") + "." + sig, "JSON_TOO_DEEP"},
  };
  for (const auto& c : cases) {
    auto r = parseCompactJws(c.token);
    ASSERT_FALSE(r) << c.why;
    EXPECT_EQ(r.error().code, jws_errc::kMalformed);
    EXPECT_NE(r.error().message.find(c.why), std::string::npos) << r.error().message;
  }
}

// ---- walkers: safe on any depth, even a document built in memory ----------------------

TEST(JsonWalkers, SlotWalkerIsIterative) {
  const json deep = deepInMemory(200'000, "{{slot:x}}");
  auto r = forbidSlotsInJson(deep, "params");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPlaceholderForbidden);
  EXPECT_TRUE(forbidSlotsInJson(deepInMemory(200'000, "plain"), "params"));
  EXPECT_EQ(jsonDepth(deep), 200'000u);
}

TEST(JsonWalkers, EgressScrubIsIterative) {
  EgressGuard guard;
  auto value = Secret::copyFrom(std::string_view("correct-horse-battery"));
  ASSERT_TRUE(value);
  auto live = guard.protect(*value);
  ASSERT_TRUE(live.live());
  std::size_t count = 0;
  json scrubbed = guard.scrubJson(deepInMemory(200'000, json{{"k", "a correct-horse-battery b"}}), &count);
  EXPECT_EQ(count, 1u);
  const json* at = &scrubbed;
  while (at->is_array()) at = &at->front();
  EXPECT_EQ((*at)["k"], "a [REDACTED] b");
}

}  // namespace
}  // namespace sealgate
