// One authorize batch's decisions combined (authorizer.h): allow, deny, a
// missing decision, items denied before the PDP, obligations tightening the
// grant but never past the ceilings, and what the audit event records.
#include "appliance/grants/authorizer.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sealgate::appliance
