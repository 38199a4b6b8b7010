// One authorize batch's decisions combined (authorizer.h): allow, deny, a
// missing decision, items denied before the PDP, obligations tightening the
// grant but never past the ceilings, what the audit event records, and the
// break-glass windows that let through what the PDP did not allow.
#include "appliance/grants/authorizer.h"

#include <gtest/gtest.h>

#include <map>
#include <utility>

namespace sealgate::appliance {
namespace {

using nlohmann::json;

AuthorizeItem item(std::size_t index, const std::string& ref, const std::string& action = "use") {
  AuthorizeItem i;
  i.index = index;
  i.uri = *SecretUri::parse("secret://acme/kv/app/k" + std::to_string(index) + "#v");
  i.action = action;
  i.resourceRef = ref;
  return i;
}

Decision allow(std::size_t index, const std::string& obligations = "{}") {
  Decision d;
  d.index = index;
  d.allow = true;
  d.obligationsJson = obligations;
  return d;
}

Decision deny(std::size_t index, const std::string& reason) {
  Decision d;
  d.index = index;
  d.reason = reason;
  return d;
}

constexpr GrantCeilings kCeilings{300, 10};

TEST(Authorizer, AsksThePdpOnlyAboutItemsThatPassedTheUriChecks) {
  AuthorizeItem foreign;
  foreign.index = 1;
  foreign.action = "use";
  foreign.denyReason = "URI_TENANT_MISMATCH";
  const auto asks = decisionRequestsOf({item(0, "r0", "inspect"), foreign});
  ASSERT_EQ(asks.size(), 1u);
  EXPECT_EQ(asks[0].index, 0u);
  EXPECT_EQ(asks[0].action, "inspect");
  EXPECT_EQ(asks[0].canonicalUri, "secret://acme/kv/app/k0#v");
}

TEST(Authorizer, EveryItemAllowedIsAnAllowWithTheCeilings) {
  const auto out = combineDecisions({item(0, "r0"), item(1, "r1")}, {allow(0), allow(1)}, kCeilings);
  EXPECT_EQ(out.decision(2), "allow");
  EXPECT_EQ(out.allowedRefs, (std::set<std::string>{"r0", "r1"}));
  EXPECT_EQ(out.ttlSeconds, 300);
  EXPECT_EQ(out.maxUses, 10u);
  ASSERT_EQ(out.results.size(), 2u);
  EXPECT_EQ(out.results[0]["decision"], "allow");
  EXPECT_EQ(out.results[1]["resource_ref"], "r1");
  EXPECT_TRUE(out.obligations["r0"].contains("use"));
}

TEST(Authorizer, ObligationsTightenTheGrantButNeverLoosenIt) {
  const auto out = combineDecisions(
      {item(0, "r0"), item(1, "r1")},
      {allow(0, R"({"ttl_seconds": 60, "max_uses": 50})"), allow(1, R"({"max_uses": 2, "ttl_seconds": 900})")},
      kCeilings);
  EXPECT_EQ(out.ttlSeconds, 60);
  EXPECT_EQ(out.maxUses, 2u);
  EXPECT_EQ(out.obligations["r1"]["use"]["max_uses"], 2);
}

TEST(Authorizer, ObligationsOfTheWrongTypeAreIgnoredNotTrusted) {
  const auto out =
      combineDecisions({item(0, "r0"), item(1, "r1")},
                       {allow(0, R"({"ttl_seconds": -5, "max_uses": "9"})"), allow(1, "[1,2]")}, kCeilings);
  EXPECT_EQ(out.ttlSeconds, 300);
  EXPECT_EQ(out.maxUses, 10u);
  EXPECT_EQ(out.results[1]["obligations"], json::object());
}

TEST(Authorizer, AZeroObligationStillGivesAGrantOfOneSecondAndOneUse) {
  const auto out = combineDecisions({item(0, "r0")}, {allow(0, R"({"ttl_seconds": 0, "max_uses": 0})")}, kCeilings);
  EXPECT_EQ(out.ttlSeconds, 1);
  EXPECT_EQ(out.maxUses, 1u);
}

TEST(Authorizer, DeniesCarryTheirReasonAndADenyWithoutOneIsPolicyDenied) {
  const auto out = combineDecisions({item(0, "r0"), item(1, "r1"), item(2, "r2")},
                                    {allow(0), deny(1, "NOT_ON_SUNDAYS"), deny(2, "")}, kCeilings);
  EXPECT_EQ(out.decision(3), "partial");
  EXPECT_EQ(out.allowedRefs, (std::set<std::string>{"r0"}));
  EXPECT_EQ(out.results[1]["reason"], "NOT_ON_SUNDAYS");
  EXPECT_EQ(out.results[2]["reason"], "POLICY_DENIED");
  EXPECT_FALSE(out.obligations.contains("r1"));
  EXPECT_EQ(out.auditResults[1]["reason"], "NOT_ON_SUNDAYS");
}

TEST(Authorizer, AMissingDecisionIsADeny) {
  const auto out = combineDecisions({item(0, "r0"), item(1, "r1")}, {allow(1)}, kCeilings);
  EXPECT_EQ(out.results[0]["decision"], "deny");
  EXPECT_EQ(out.results[0]["reason"], "PDP_NO_DECISION");
  EXPECT_EQ(out.allowedRefs, (std::set<std::string>{"r1"}));
}

TEST(Authorizer, AnItemDeniedBeforeThePdpStaysDeniedWhateverThePdpSays) {
  AuthorizeItem bad;
  bad.index = 0;
  bad.action = "use";
  bad.denyReason = "URI_INVALID";
  const auto out = combineDecisions({bad}, {allow(0)}, kCeilings);
  EXPECT_EQ(out.decision(1), "deny");
  EXPECT_EQ(out.results[0]["reason"], "URI_INVALID");
  EXPECT_FALSE(out.results[0].contains("resource_ref"));
  EXPECT_TRUE(out.allowedRefs.empty());
}

TEST(Authorizer, TheFirstAllowedItemOfAResourceAndActionSetsItsObligations) {
  const auto out = combineDecisions(
      {item(0, "r0"), item(1, "r0"), item(2, "r0", "inspect")},
      {allow(0, R"({"connectors": ["rest"]})"), allow(1, R"({"connectors": ["hmac"]})"), allow(2)}, kCeilings);
  EXPECT_EQ(out.obligations["r0"]["use"]["connectors"], json::array({"rest"}));
  EXPECT_TRUE(out.obligations["r0"].contains("inspect"));
  EXPECT_EQ(out.allowedRefs.size(), 1u);
}

TEST(Authorizer, TheAuditResultsKeepThePdpsDecisionIds) {
  Decision d = allow(0);
  d.externalDecisionId = "opa-123";
  const auto out = combineDecisions({item(0, "r0"), item(1, "r1")}, {d, deny(1, "X")}, kCeilings);
  EXPECT_EQ(out.auditResults[0]["pdp_decision_id"], "opa-123");
  EXPECT_FALSE(out.auditResults[1].contains("pdp_decision_id"));
  EXPECT_EQ(out.auditResults[0]["resource_ref"], "r0");
  EXPECT_FALSE(out.auditResults[0].contains("obligations"));
}

// A window lookup that answers from a table by item index and records what it
// was asked: {index, pdpDenied}.
struct ScriptedWindows {
  std::map<std::size_t, OpenBreakGlassWindow> byIndex;
  std::vector<std::pair<std::size_t, bool>> asked;
  WindowLookup lookup() {
    return [this](const AuthorizeItem& item, bool pdpDenied) -> std::optional<OpenBreakGlassWindow> {
      asked.emplace_back(item.index, pdpDenied);
      auto w = byIndex.find(item.index);
      if (w == byIndex.end()) return std::nullopt;
      return w->second;
    };
  }
};

TEST(Authorizer, AWindowIsAskedOnlyAboutWhatThePdpDidNotAllowAndSaysWhatThePdpDid) {
  AuthorizeItem foreign;
  foreign.index = 3;
  foreign.action = "use";
  foreign.denyReason = "URI_TENANT_MISMATCH";
  ScriptedWindows windows;
  auto out = combineDecisions({item(0, "r0"), item(1, "r1"), item(2, "r2"), foreign},
                              {allow(0), deny(1, "NOT_ON_SUNDAYS")}, kCeilings, windows.lookup());
  EXPECT_EQ(windows.asked, (std::vector<std::pair<std::size_t, bool>>{{1, true}, {2, false}}))
      << "an allowed item, or one denied before the PDP, was looked up; or pdpDenied is wrong";
  EXPECT_FALSE(out.window);
  EXPECT_EQ(out.results[1]["reason"], "NOT_ON_SUNDAYS");
  EXPECT_EQ(out.results[2]["reason"], "PDP_NO_DECISION");
  EXPECT_FALSE(out.auditResults[1].contains("breakglass"));
}

TEST(Authorizer, AWindowLetsAnItemThroughWithItsIdAsTheOnlyObligation) {
  ScriptedWindows windows;
  windows.byIndex[1] = {"w1", 5000};
  auto out =
      combineDecisions({item(0, "r0"), item(1, "r1"), item(2, "r2")},
                       {allow(0, R"({"ttl_seconds": 60})"), deny(1, "X"), deny(2, "Y")}, kCeilings, windows.lookup());
  ASSERT_TRUE(out.window);
  EXPECT_EQ(out.window->id, "w1");
  EXPECT_EQ(out.window->endsAt, 5000);
  EXPECT_EQ(out.decision(3), "partial");
  EXPECT_EQ(out.allowedRefs, (std::set<std::string>{"r0", "r1"}));
  EXPECT_EQ(out.results[1]["decision"], "allow");
  EXPECT_EQ(out.results[1]["obligations"], (json{{"breakglass", "w1"}}));
  EXPECT_EQ(out.obligations["r1"]["use"], (json{{"breakglass", "w1"}}));
  EXPECT_EQ(out.auditResults[1]["breakglass"], "w1");
  EXPECT_FALSE(out.auditResults[1].contains("reason"));
  EXPECT_FALSE(out.auditResults[0].contains("breakglass")) << "an item the PDP allowed is marked break-glass";
  EXPECT_EQ(out.results[2]["reason"], "Y");
  EXPECT_EQ(out.ttlSeconds, 60) << "the PDP's obligations no longer tighten the grant";
  EXPECT_EQ(out.maxUses, 10u) << "the ceilings no longer apply";
}

TEST(Authorizer, OneBatchOneWindowTheFirstWins) {
  ScriptedWindows windows;
  windows.byIndex[0] = {"w1", 5000};
  windows.byIndex[1] = {"w2", 9000};
  windows.byIndex[2] = {"w1", 5000};
  auto out = combineDecisions({item(0, "r0"), item(1, "r1"), item(2, "r2")}, {}, kCeilings, windows.lookup());
  ASSERT_TRUE(out.window);
  EXPECT_EQ(out.window->id, "w1");
  EXPECT_EQ(out.results[0]["decision"], "allow");
  EXPECT_EQ(out.results[1]["decision"], "deny") << "an item of another window was let through";
  EXPECT_EQ(out.results[1]["reason"], "PDP_NO_DECISION") << "denied as it would be without break-glass";
  EXPECT_FALSE(out.auditResults[1].contains("breakglass"));
  EXPECT_EQ(out.results[2]["decision"], "allow");
  EXPECT_EQ(out.allowedRefs, (std::set<std::string>{"r0", "r2"}));
}

TEST(Authorizer, WithoutThePdpOnlyWhatAWindowCoversIsAllowed) {
  AuthorizeItem bad;
  bad.index = 2;
  bad.action = "use";
  bad.denyReason = "URI_TRAVERSAL";
  ScriptedWindows none;
  auto out = combineWithoutPdp({item(0, "r0"), item(1, "r1"), bad}, kCeilings, none.lookup());
  EXPECT_FALSE(out.window);
  EXPECT_TRUE(out.allowedRefs.empty());
  EXPECT_EQ(out.results[0]["reason"], "PDP_UNAVAILABLE");
  EXPECT_EQ(out.results[2]["reason"], "URI_TRAVERSAL");
  EXPECT_EQ(none.asked, (std::vector<std::pair<std::size_t, bool>>{{0, false}, {1, false}}));

  ScriptedWindows windows;
  windows.byIndex[1] = {"w1", 5000};
  windows.byIndex[2] = {"w1", 5000};
  out = combineWithoutPdp({item(0, "r0"), item(1, "r1"), bad}, kCeilings, windows.lookup());
  ASSERT_TRUE(out.window);
  EXPECT_EQ(out.allowedRefs, (std::set<std::string>{"r1"}));
  EXPECT_EQ(out.results[0]["reason"], "PDP_UNAVAILABLE");
  EXPECT_EQ(out.results[1]["obligations"], (json{{"breakglass", "w1"}}));
  EXPECT_EQ(out.results[2]["reason"], "URI_TRAVERSAL") << "a window overrode a URI check";
  EXPECT_EQ(out.ttlSeconds, 300);
  EXPECT_EQ(out.maxUses, 10u);
}

}  // namespace
}  // namespace sealgate::appliance
