#include "core/slot_template.h"

#include <gtest/gtest.h>

namespace sealgate {
namespace {

std::string reveal(const Secret& s) {
  auto b = s.exposeSecretBytes();
  return std::string(b.begin(), b.end());
}

TEST(SlotTemplate, RendersPlaceholdersIntoProtectedMemory) {
  auto t = SlotTemplate::parse("Bearer {{slot:tok}} and {{slot:db_pw-2}}!");
  ASSERT_TRUE(t) << t.error().describe();
  EXPECT_EQ(t->slotNames(), (std::set<std::string>{"tok", "db_pw-2"}));
  EXPECT_FALSE(t->isSingleSlot());
  auto tok = Secret::copyFrom(std::string_view("T0K"));
  auto pw = Secret::copyFrom(std::string_view(""));
  SlotValues slots{{"tok", &*tok}, {"db_pw-2", &*pw}};
  auto out = t->render(slots);
  ASSERT_TRUE(out);
  EXPECT_EQ(reveal(*out), "Bearer T0K and !");
}

TEST(SlotTemplate, LiteralTextAndOtherBracesPassThrough) {
  auto t = SlotTemplate::parse("{{name}} {x} }} {{");
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->hasSlots());
  auto out = t->render({});
  ASSERT_TRUE(out);
  EXPECT_EQ(reveal(*out), "{{name}} {x} }} {{");
  auto single = SlotTemplate::parse("{{slot:key}}");
  ASSERT_TRUE(single);
  EXPECT_TRUE(single->isSingleSlot());
}

TEST(SlotTemplate, MalformedPlaceholdersAreRefused) {
  for (const char* bad : {"{{slot}}", "{{slot:}}", "{{slot:a b}}", "{{slot:abc", "{{slot:abc}", "{{slots:a}}",
                          "{{slot:a.b}}", "x{{slot:\xc3\xa9}}"}) {
    auto t = SlotTemplate::parse(bad);
    ASSERT_FALSE(t) << bad;
    EXPECT_EQ(t.error().code, connector_errc::kInvalidAction) << bad;
  }
  const std::string longest = "{{slot:" + std::string(64, 'a') + "}}";
  EXPECT_TRUE(SlotTemplate::parse(longest));
  EXPECT_FALSE(SlotTemplate::parse("{{slot:" + std::string(65, 'a') + "}}"));
}

TEST(SlotTemplate, RenderingAnUndeclaredSlotFails) {
  auto t = SlotTemplate::parse("{{slot:missing}}");
  ASSERT_TRUE(t);
  auto out = t->render({});
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, connector_errc::kInvalidAction);
}

TEST(SlotTemplate, ForbiddenPositionsNameWhere) {
  EXPECT_TRUE(forbidSlots("plain {{text}}", "the host"));
  auto r = forbidSlots("a{{slot:x}}", "the host");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPlaceholderForbidden);
  EXPECT_NE(r.error().message.find("the host"), std::string::npos);
  EXPECT_EQ(forbidSlots("{{slot:", "x").error().code, connector_errc::kInvalidAction);
  nlohmann::json nested = {{"a", {1, "b", {{"{{slot:k}}", 2}}}}};
  EXPECT_EQ(forbidSlotsInJson(nested, "params").error().code, connector_errc::kPlaceholderForbidden);
  EXPECT_TRUE(forbidSlotsInJson(nlohmann::json{{"a", {1, "b"}}}, "params"));
}

TEST(PeerText, InvalidUtf8BecomesBase64) {
  EXPECT_EQ(peerText("h\xc3\xa9llo"), nlohmann::json("h\xc3\xa9llo"));
  for (std::string bad : {std::string("\xff"), std::string("a\xc3"), std::string("\xc0\x80"),
                          std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80")}) {
    auto j = peerText(bad);
    ASSERT_TRUE(j.is_object()) << j.dump(-1, ' ', true);
    EXPECT_TRUE(j.contains("base64"));
    EXPECT_NO_THROW((void)j.dump());
  }
}

TEST(EgressRules, HostsPortsAndWildcards) {
  EgressRules r{{"127.0.0.1", "*.example.com"}, {}, {}};
  EXPECT_TRUE(egressHostAllowed(r, "127.0.0.1", 443));
  EXPECT_TRUE(egressHostAllowed(r, "api.example.com", 1));
  EXPECT_FALSE(egressHostAllowed(r, "example.com", 443));
  EXPECT_FALSE(egressHostAllowed(r, "evilexample.com", 443));
  EXPECT_FALSE(egressHostAllowed(r, "127.0.0.2", 443));
  EXPECT_FALSE(egressHostAllowed(r, "", 443));
  r.ports = {8443};
  EXPECT_TRUE(egressHostAllowed(r, "127.0.0.1", 8443));
  EXPECT_FALSE(egressHostAllowed(r, "127.0.0.1", 443));
  EXPECT_FALSE(egressHostAllowed(EgressRules{}, "127.0.0.1", 443));
}

}  // namespace
}  // namespace sealgate

namespace sealgate {
namespace {

TEST(SlotTemplate, SlotBytesAreEscapedForWhereTheyLand) {
  auto t = SlotTemplate::parse("a=1&k={{slot:s}}");
  ASSERT_TRUE(t);
  auto value = Secret::copyFrom(std::string_view("x y&=/\"\\\n~-._"));
  SlotValues slots{{"s", &*value}};
  auto pct = t->render(slots, SlotEncoding::Percent);
  ASSERT_TRUE(pct);
  EXPECT_EQ(reveal(*pct), "a=1&k=x%20y%26%3D%2F%22%5C%0A~-._");  // literal text untouched
  auto js = SlotTemplate::parse("{\"p\":\"{{slot:s}}\"}")->render(slots, SlotEncoding::JsonString);
  ASSERT_TRUE(js);
  EXPECT_EQ(nlohmann::json::parse(reveal(*js))["p"], "x y&=/\"\\\n~-._");
}

}  // namespace
}  // namespace sealgate
