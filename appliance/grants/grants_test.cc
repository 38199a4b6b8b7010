// Grants: claims validation (actions per resource, ancestry), signing and
// verification against a real SoftHSM2 token, and the state-lifetime rule.
#include "appliance/grants/grants.h"

#include <gtest/gtest.h>

#include "appliance/keys/signing_keys.h"
#include "core/jws.h"
#include "tests/support/temp_token.h"

namespace sealgate::appliance {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

json validClaims() {
  return json{{"iss", "sg"},
              {"aud", "sg"},
              {"sub", "spiffe://acme/svc/a"},
              {"jti", "g1"},
              {"decision_id", "d1"},
              {"iat", 100},
              {"nbf", 100},
              {"exp", 200},
              {"res", {"r1", "r2"}},
              {"max_uses", 3u},
              {"cnf", {{"x5t#S256", "abc"}}},
              {"obl", {{"r1", {{"use", json::object()}}}, {"r2", {{"inspect", {{"ttl_seconds", 5}}}}}}}};
}

TEST(GrantClaims, CarryTheActionsAllowedOnEachResource) {
  auto c = GrantClaims::fromJson(validClaims());
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_NE(c->allowed("r1", kUseAction), nullptr);
  EXPECT_EQ(c->allowed("r2", kUseAction), nullptr);
  ASSERT_NE(c->allowed("r2", "inspect"), nullptr);
  EXPECT_EQ((*c->allowed("r2", "inspect"))["ttl_seconds"], 5);
  EXPECT_EQ(c->allowed("r3", kUseAction), nullptr);
  EXPECT_EQ(c->resourcesAllowing(kUseAction), std::vector<std::string>{"r1"});
  EXPECT_TRUE(c->resourcesAllowing("delete").empty());
  // Round trip.
  auto again = GrantClaims::fromJson(c->toJson());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->obl, c->obl);
}

TEST(GrantClaims, RefuseObligationsThatDoNotNameEachResourceWithActions) {
  const std::vector<std::pair<const char*, json>> cases = {
      {"obl missing", json(nullptr)},
      {"obl not an object", json::array()},
      {"a resource without an entry", json{{"r1", {{"use", json::object()}}}}},
      {"a resource with no action", json{{"r1", {{"use", json::object()}}}, {"r2", json::object()}}},
      {"an extra resource",
       json{{"r1", {{"use", json::object()}}}, {"r2", {{"use", json::object()}}}, {"r3", {{"use", json::object()}}}}},
      {"obligations not an object", json{{"r1", {{"use", true}}}, {"r2", {{"use", json::object()}}}}},
      {"the pre-actions layout", json{{"r1", json::object()}, {"r2", {{"ttl_seconds", 5}}}}},
      {"an empty action name", json{{"r1", {{"", json::object()}}}, {"r2", {{"use", json::object()}}}}},
  };
  for (const auto& [why, obl] : cases) {
    json c = validClaims();
    if (obl.is_null()) {
      c.erase("obl");
    } else {
      c["obl"] = obl;
    }
    auto parsed = GrantClaims::fromJson(c);
    ASSERT_FALSE(parsed) << why;
    EXPECT_EQ(parsed.error().code, grant_errc::kInvalid) << why;
  }
  json twice = validClaims();
  twice["res"] = {"r1", "r1"};
  twice["obl"] = {{"r1", {{"use", json::object()}}}};
  EXPECT_FALSE(GrantClaims::fromJson(twice));
}

TEST(GrantClaims, AncestryIsAListOfGrantIds) {
  json c = validClaims();
  c["anc"] = {"root", "parent"};
  auto parsed = GrantClaims::fromJson(c);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->anc, (std::vector<std::string>{"root", "parent"}));
  EXPECT_EQ(GrantClaims::fromJson(parsed->toJson())->anc, parsed->anc);
  for (const json& bad : {json::array(), json("root"), json{1, 2}, json{""}}) {
    c["anc"] = bad;
    EXPECT_FALSE(GrantClaims::fromJson(c)) << bad.dump();
  }
}

TEST(GrantClaims, CarryTheirBreakGlassWindowOnlyWhenIssuedInOne) {
  auto plain = GrantClaims::fromJson(validClaims());
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->bg.has_value());
  EXPECT_FALSE(plain->toJson().contains("bg")) << "a grant outside break-glass names a window";
  EXPECT_FALSE(GrantClaims::fromJson(plain->toJson())->bg.has_value());

  json c = validClaims();
  c["bg"] = "0123456789abcdef0123456789abcdef";
  auto parsed = GrantClaims::fromJson(c);
  ASSERT_TRUE(parsed) << parsed.error().describe();
  EXPECT_EQ(parsed->bg, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(parsed->toJson()["bg"], "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(GrantClaims::fromJson(parsed->toJson())->bg, parsed->bg);

  for (const json& bad : {json(""), json(5), json(nullptr), json::array({"w"}), json{{"id", "w"}}, json(true)}) {
    c["bg"] = bad;
    auto refused = GrantClaims::fromJson(c);
    ASSERT_FALSE(refused) << bad.dump();
    EXPECT_EQ(refused.error().code, grant_errc::kInvalid) << bad.dump();
  }
}

TEST(GrantAuthority, StateIsKeptPastEveryInstantAGrantVerifies) {
  auto keys = testing::openFreshToken("grants-test");
  ASSERT_TRUE(keys->generateEcP256Key("sealgate-grant-es256-v1"));
  auto authority = GrantAuthority::load(*grantSigningKeys(*keys), "sg");
  ASSERT_TRUE(authority) << authority.error().describe();
  GrantClaims claims = *GrantClaims::fromJson(validClaims());
  const std::int64_t exp = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
  claims.iat = claims.nbf = exp - 10;
  claims.exp = exp;
  auto token = (*authority)->sign(claims);
  ASSERT_TRUE(token);
  const Clock::time_point expAt{std::chrono::seconds(exp)};
  const Clock::time_point keep = grantStateKeepUntil(exp);
  // Walk past exp in 100 ms steps: every instant the grant verifies at is
  // before the state about it may be dropped; and it stops verifying.
  bool sawRefusal = false;
  for (auto t = expAt - std::chrono::seconds(1); t < keep + std::chrono::seconds(2);
       t += std::chrono::milliseconds(100)) {
    auto verified = (*authority)->verify(*token, t);
    if (verified) {
      EXPECT_LT(t, keep);
    } else {
      EXPECT_EQ(verified.error().code, grant_errc::kExpired);
      sawRefusal = true;
    }
  }
  EXPECT_TRUE(sawRefusal);
  EXPECT_TRUE((*authority)->verify(*token, expAt + kGrantClockLeeway - std::chrono::seconds(1)));
}

}  // namespace
}  // namespace sealgate::appliance
