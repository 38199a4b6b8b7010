// Delegation (delegation.h): the body's shapes, and a child that is never wider,
// longer-lived or with more uses than its parent, within the depth cap.
#include "appliance/grants/delegation.h"

#include <gtest/gtest.h>

namespace sealgate::appliance {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1000;
constexpr const char* kJkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";  // 32 bytes

GrantClaims parentGrant() {
  GrantClaims p;
  p.iss = p.aud = "sg";
  p.sub = "spiffe://acme/payments";
  p.jti = "parent";
  p.decisionId = "d1";
  p.iat = p.nbf = kNow - 10;
  p.exp = kNow + 300;
  p.res = {"r1", "r2"};
  p.maxUses = 5;
  p.obl = json{{"r1", {{"use", {{"connectors", {"rest"}}}}, {"inspect", json::object()}}},
               {"r2", {{"use", json::object()}}}};
  p.cnfX5t = "thumb";
  return p;
}

DelegationAsk ask(json extra = json::object()) {
  json body = {{"grant", "token"}, {"to", "spiffe://acme/billing"}};
  body.update(extra);
  auto parsed = parseDelegationAsk(body);
  EXPECT_TRUE(parsed) << parsed.error().describe();
  return parsed ? *parsed : DelegationAsk{};
}

Result<ChildGrantPlan> plan(const json& extra, const GrantClaims& parent = parentGrant(), std::size_t maxDepth = 3) {
  return planChildGrant(parent, ask(extra), kNow, maxDepth);
}

TEST(DelegationAsk, MalformedBodiesAreInvalidRequests) {
  const std::vector<json> bodies = {
      {{"grant", 1}, {"to", "spiffe://acme/b"}},
      {{"grant", "t"}, {"to", json::array()}},
      {{"grant", "t"}, {"to", "x"}, {"jkt", 5}},
      {{"grant", "t"}, {"to", "x"}, {"max_uses", -1}},
      {{"grant", "t"}, {"to", "x"}, {"max_uses", "2"}},
      {{"grant", "t"}, {"to", "x"}, {"ttl_seconds", 1.5}},
      {{"grant", "t"}, {"to", "x"}, {"resources", "r1"}},
      {{"grant", "t"}, {"to", "x"}, {"resources", {1}}},
      {{"grant", "t"}, {"to", "x"}, {"resources", {""}}},
      {{"grant", "t"}, {"to", "x"}, {"actions", json::array()}},
      {{"grant", "t"}, {"to", "x"}, {"actions", {"use", ""}}},
      {{"grant", "t"}, {"to", "x"}, {"actions", {"use", 3}}},
      {{"grant", "t"}, {"to", "x"}, {"actions", json(std::vector<std::string>(17, "use"))}},
  };
  for (const auto& body : bodies) {
    auto parsed = parseDelegationAsk(body);
    ASSERT_FALSE(parsed) << body.dump();
    EXPECT_EQ(parsed.error().code, ErrorCode::InvalidRequest) << body.dump();
  }
}

TEST(DelegationAsk, ReadsEveryField) {
  const DelegationAsk a =
      ask({{"jkt", kJkt}, {"max_uses", 2u}, {"ttl_seconds", 60u}, {"resources", {"r1"}}, {"actions", {"use"}}});
  EXPECT_EQ(a.grant, "token");
  EXPECT_EQ(a.jkt, kJkt);
  EXPECT_EQ(a.maxUses, 2u);
  EXPECT_EQ(a.ttlSeconds, 60);
  EXPECT_EQ(a.resources, std::vector<std::string>{"r1"});
  EXPECT_EQ(a.actions, std::vector<std::string>{"use"});
}

TEST(Delegation, ByDefaultTheChildHasTheParentsScopeOneUseAndTheParentsExpiry) {
  auto p = plan(json::object());
  ASSERT_TRUE(p) << p.error().describe();
  EXPECT_EQ(p->to, "spiffe://acme/billing");
  EXPECT_EQ(p->res, (std::vector<std::string>{"r1", "r2"}));
  EXPECT_EQ(p->obl, parentGrant().obl);
  EXPECT_EQ(p->uses, 1u);
  EXPECT_EQ(p->exp, kNow + 300);
  EXPECT_EQ(p->depth, 1u);
  EXPECT_FALSE(p->jkt);
}

TEST(Delegation, TheChildMayBeNarrower) {
  auto p =
      plan({{"resources", {"r1", "r1"}}, {"actions", {"use"}}, {"max_uses", 5u}, {"ttl_seconds", 300u}, {"jkt", kJkt}});
  ASSERT_TRUE(p) << p.error().describe();
  EXPECT_EQ(p->res, std::vector<std::string>{"r1"});                         // once
  EXPECT_EQ(p->obl, (json{{"r1", {{"use", {{"connectors", {"rest"}}}}}}}));  // the parent's obligations kept
  EXPECT_EQ(p->uses, 5u);
  EXPECT_EQ(p->exp, kNow + 300);
  EXPECT_EQ(p->jkt, kJkt);
}

TEST(Delegation, NeverWider) {
  const std::vector<std::pair<json, ErrorCode>> cases = {
      {{{"to", "spiffe://globex/billing"}}, ErrorCode::ScopeWidened},
      {{{"resources", {"r3"}}}, ErrorCode::ScopeWidened},
      {{{"resources", {"r1", "r3"}}}, ErrorCode::ScopeWidened},
      {{{"actions", {"delete"}}}, ErrorCode::ScopeWidened},
      {{{"resources", {"r2"}}, {"actions", {"inspect"}}}, ErrorCode::ScopeWidened},  // inspect only on r1
      {{{"ttl_seconds", 301u}}, ErrorCode::ScopeWidened},
      {{{"max_uses", 6u}}, ErrorCode::ScopeWidened},
      {{{"max_uses", 0u}}, ErrorCode::ScopeWidened},
      {{{"ttl_seconds", 0u}}, ErrorCode::InvalidRequest},
      {{{"resources", json::array()}}, ErrorCode::InvalidRequest},
      {{{"to", "spiffe://sealgate-admin/admin/alice"}}, ErrorCode::InvalidRequest},
      {{{"to", "https://acme/billing"}}, ErrorCode::InvalidRequest},
      {{{"jkt", "short"}}, ErrorCode::InvalidRequest},
      {{{"jkt", "not base64url!"}}, ErrorCode::InvalidRequest},
  };
  for (const auto& [extra, code] : cases) {
    auto p = plan(extra);
    ASSERT_FALSE(p) << extra.dump();
    EXPECT_EQ(p.error().code, code) << extra.dump() << ": " << p.error().describe();
  }
}

TEST(Delegation, ChainsStopAtTheDepthCap) {
  GrantClaims p = parentGrant();
  ASSERT_TRUE(plan(json::object(), p, 1));
  p.act = json{{"sub", "spiffe://acme/a"}};
  auto second = plan(json::object(), p, 2);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->depth, 2u);
  auto refused = plan(json::object(), p, 1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::DelegationDepth);
  p.act = json{{"sub", "spiffe://acme/b"}, {"act", {{"sub", "spiffe://acme/a"}}}};
  auto third = plan(json::object(), p, 3);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->depth, 3u);
  EXPECT_EQ(plan(json::object(), p, 2).error().code, ErrorCode::DelegationDepth);
}

TEST(Delegation, TheChildsClaimsNameTheActorOutermostAndTheParentInItsAncestry) {
  GrantClaims parent = parentGrant();
  parent.act = json{{"sub", "spiffe://acme/a"}};
  parent.anc = {"root"};
  auto p = plan({{"jkt", kJkt}}, parent);
  ASSERT_TRUE(p);
  const GrantClaims child = childClaims(parent, *p, "child", kNow);
  EXPECT_EQ(child.sub, parent.sub);
  EXPECT_EQ(child.holder(), "spiffe://acme/billing");
  EXPECT_EQ(child.act["act"]["sub"], "spiffe://acme/a");
  EXPECT_EQ(child.anc, (std::vector<std::string>{"root", "parent"}));
  EXPECT_EQ(child.decisionId, "d1");
  EXPECT_EQ(child.iat, kNow);
  EXPECT_EQ(child.exp, parent.exp);
  EXPECT_EQ(child.cnfJkt, kJkt);
  EXPECT_FALSE(child.cnfX5t);  // bound to its holder, not the parent's certificate
  EXPECT_EQ(child.maxUses, 1u);
}

TEST(Delegation, TheChildOfABreakGlassGrantStaysTiedToItsWindow) {
  GrantClaims parent = parentGrant();
  auto p = plan(json::object(), parent);
  ASSERT_TRUE(p);
  EXPECT_FALSE(childClaims(parent, *p, "child", kNow).bg.has_value());
  parent.bg = "window-1";
  const GrantClaims child = childClaims(parent, *p, "child", kNow);
  EXPECT_EQ(child.bg, "window-1");
  EXPECT_EQ(GrantClaims::fromJson(child.toJson())->bg, "window-1");
}

}  // namespace
}  // namespace sealgate::appliance
