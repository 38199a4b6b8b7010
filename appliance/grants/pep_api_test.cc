// The PEP's decisions, branch by branch, with its dependencies replaced by the
// fakes of tests/support/appliance_fakes.h: every refusal and every failure of a
// dependency is reached directly (the e2e suite drives the real ones over mTLS).
#include "appliance/grants/pep_api.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/appliance_fakes.h"

namespace sealgate::appliance {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;
using namespace testing::fakes;

constexpr const char* kUri = "secret://acme/kv/payments/stripe#api_key";

class PepApiTest : public ::testing::Test {
 protected:
  PepApiTest() : refs(mac, 16) {
    config.name = "sg";
    authority = std::move(*GrantAuthority::load(grantKey.keys(), "sg"));
    presentation = std::make_unique<GrantPresentation>(config.grants, *authority, state, audit);
    pep = std::make_unique<PepApi>(config, refs, *authority, pdp, state, audit, *presentation);
  }

  // Positive integers are unsigned in bodies the JSON parser read: the tests
  // write them as 2u.
  Request request(const Identity& who, json body) {
    Request r;
    r.correlationId = "test";
    r.method = "POST";
    r.identity = who;
    r.body = std::move(body);
    return r;
  }
  HandlerResult authorize(const std::string& uri = kUri, const std::string& action = "use") {
    Request r = request(payments, json{{"requests", json::array({{{"uri", uri}, {"action", action}}})}});
    return pep->authorize(r);
  }
  // A grant for kUri, as the response gave it.
  json grantFor(const std::string& action = "use") {
    auto r = authorize(kUri, action);
    EXPECT_EQ(statusOf(r), 200) << describe(r);
    return std::get<Response>(r).body;
  }
  HandlerResult consume(const std::string& grant, const Identity& who) {
    Request r = request(who, json{{"grant", grant}});
    return pep->consume(r);
  }
  HandlerResult delegate(json body, const Identity& who) {
    Request r = request(who, std::move(body));
    return pep->delegate(r);
  }

  Config config;
  SoftwareMac mac;
  ResourceRefs refs;
  SoftwareGrantKey grantKey;
  std::unique_ptr<GrantAuthority> authority;
  ScriptedPdp pdp;
  ControllableState state;
  RecordingAudit audit;
  std::unique_ptr<GrantPresentation> presentation;
  std::unique_ptr<PepApi> pep;
  Identity payments = service("payments", "thumb-payments");
  Identity billing = service("billing", "thumb-billing");
};

TEST_F(PepApiTest, AnAllowedItemGetsAGrantBoundToTheCallersCertificateAndIsAudited) {
  const json body = grantFor();
  auto claims = authority->verify(body["grant"].get<std::string>(), Clock::now());
  ASSERT_TRUE(claims) << claims.error().describe();
  EXPECT_EQ(claims->sub, payments.spiffeId);
  EXPECT_EQ(claims->cnfX5t, payments.certThumbprint);
  ASSERT_EQ(claims->res.size(), 1u);
  EXPECT_EQ(body["results"][0]["resource_ref"], claims->res[0]);
  ASSERT_EQ(audit.events.size(), 1u);
  EXPECT_EQ(audit.events[0]["type"], "authorize");
  EXPECT_EQ(audit.events[0]["outcome"], "granted");
  EXPECT_EQ(audit.events[0]["grant_id"], claims->jti);
  EXPECT_EQ(audit.events[0].dump().find("payments/stripe"), std::string::npos) << "the audit event names the URI";
}

TEST_F(PepApiTest, ObligationsNarrowTheGrantButNeverPastTheCeilings) {
  config.grants.maxUses = 5;
  pdp.obligations = R"({"ttl_seconds": 30, "max_uses": 9})";
  const json body = grantFor();
  EXPECT_EQ(body["max_uses"], 5) << "max_uses above the ceiling";
  auto claims = authority->verify(body["grant"].get<std::string>(), Clock::now());
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->exp - claims->iat, 30);
}

TEST_F(PepApiTest, ADeniedItemGetsNoGrantAndTheDenialIsAudited) {
  pdp.allow = false;
  auto r = authorize();
  ASSERT_EQ(statusOf(r), 200);
  const json& body = std::get<Response>(r).body;
  EXPECT_FALSE(body.contains("grant"));
  EXPECT_EQ(body["results"][0]["decision"], "deny");
  ASSERT_EQ(audit.events.size(), 1u);
  EXPECT_EQ(audit.events[0]["outcome"], "denied");
}

TEST_F(PepApiTest, AMissingDecisionIsADeny) {
  pdp.answerNothing = true;
  auto r = authorize();
  ASSERT_EQ(statusOf(r), 200);
  EXPECT_FALSE(std::get<Response>(r).body.contains("grant"));
  EXPECT_EQ(std::get<Response>(r).body["results"][0]["reason"], "PDP_NO_DECISION");
}

TEST_F(PepApiTest, ForeignTenantItemsAreDeniedWithoutAskingThePdp) {
  auto r = authorize("secret://globex/kv/billing/key#v");
  ASSERT_EQ(statusOf(r), 200);
  EXPECT_EQ(std::get<Response>(r).body["results"][0]["decision"], "deny");
  EXPECT_EQ(pdp.calls, 0);
}

TEST_F(PepApiTest, DependencyFailuresOfAuthorizeFailClosedWithTheirCodes) {
  pdp.available = false;
  auto r = authorize();
  EXPECT_EQ(statusOf(r), 503);
  EXPECT_EQ(codeOf(r), "PDP_UNAVAILABLE");
  pdp.available = true;

  mac.failing = true;
  r = authorize("secret://acme/kv/payments/other#k");  // not in the ref cache
  EXPECT_EQ(codeOf(r), "HSM_UNAVAILABLE");
  EXPECT_EQ(pdp.calls, 1) << "the PDP was asked although no resource_ref could be computed";
  mac.failing = false;

  grantKey.failing = true;
  r = authorize();
  EXPECT_EQ(statusOf(r), 503);
  EXPECT_EQ(codeOf(r), "HSM_UNAVAILABLE");
  grantKey.failing = false;

  audit.failing = true;
  r = authorize();
  EXPECT_EQ(statusOf(r), 503);
  EXPECT_EQ(codeOf(r), "AUDIT_UNAVAILABLE");
  EXPECT_TRUE(audit.events.empty());
}

TEST_F(PepApiTest, ThePdpIsAskedWithinTheConfiguredTimeout) {
  config.pdp.timeout = std::chrono::milliseconds(750);
  ASSERT_EQ(statusOf(authorize()), 200);
  EXPECT_EQ(pdp.lastTimeout, std::chrono::milliseconds(750));
}

TEST_F(PepApiTest, MalformedAuthorizeBodiesAreRefusedBeforeAnyDependencyIsUsed) {
  for (const json& body : {json::object(), json{{"requests", json::array()}}, json{{"requests", "x"}},
                           json{{"requests", json::array({{{"uri", kUri}}})}},
                           json{{"requests", json::array({{{"uri", kUri}, {"action", "use"}}})}, {"extra", 1}}}) {
    Request r = request(payments, body);
    auto result = pep->authorize(r);
    EXPECT_EQ(statusOf(result), 400) << body.dump();
  }
  EXPECT_EQ(pdp.calls, 0);
  EXPECT_TRUE(audit.events.empty());
}

TEST_F(PepApiTest, ConsumeSpendsOneUseUntilTheGrantIsExhausted) {
  config.grants.maxUses = 2;
  const std::string grant = grantFor()["grant"];
  auto r = consume(grant, payments);
  ASSERT_EQ(statusOf(r), 200) << describe(r);
  EXPECT_EQ(std::get<Response>(r).body["remaining_uses"], 1);
  ASSERT_EQ(statusOf(consume(grant, payments)), 200);
  r = consume(grant, payments);
  EXPECT_EQ(statusOf(r), 403);
  EXPECT_EQ(codeOf(r), "GRANT_EXHAUSTED");
  EXPECT_EQ(audit.events.back()["outcome"], "GRANT_EXHAUSTED") << "the refusal is audited";
}

TEST_F(PepApiTest, OnlyTheHolderWithItsCertificateMayPresentAGrant) {
  const std::string grant = grantFor()["grant"];
  auto r = consume(grant, billing);
  EXPECT_EQ(statusOf(r), 401);
  EXPECT_EQ(codeOf(r), "BINDING_MISMATCH");
  Identity otherCert = payments;
  otherCert.certThumbprint = "another-certificate";
  EXPECT_EQ(codeOf(consume(grant, otherCert)), "BINDING_MISMATCH");
  EXPECT_EQ(state.useCalls, 0) << "a use was taken for a refused presentation";
}

TEST_F(PepApiTest, ForgedAndPredatingGrantsAreRefusedWithoutTakingAUse) {
  std::string grant = grantFor()["grant"];
  std::string forged = grant;
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(codeOf(consume(forged, payments)), "GRANT_INVALID");
  state.issuedFrom = Clock::now() + std::chrono::hours(1);
  EXPECT_EQ(codeOf(consume(grant, payments)), "GRANT_PREDATES_STATE");
  EXPECT_EQ(state.useCalls, 0);
}

TEST_F(PepApiTest, ConsumeNeedsTheUseAction) {
  const std::string grant = grantFor("read-metadata")["grant"];
  auto r = consume(grant, payments);
  EXPECT_EQ(statusOf(r), 403);
  EXPECT_EQ(codeOf(r), "ACTION_NOT_GRANTED");
  EXPECT_EQ(state.useCalls, 0);
}

TEST_F(PepApiTest, AStateThatCannotCountFailsClosedAndTheRefusalIsAudited) {
  const std::string grant = grantFor()["grant"];
  state.useFailure = makeError(ErrorCode::StateTampered, "test");
  auto r = consume(grant, payments);
  EXPECT_EQ(statusOf(r), 503);
  EXPECT_EQ(codeOf(r), "STATE_TAMPERED");
  EXPECT_EQ(audit.events.back()["reason"], "STATE_TAMPERED");

  state.useFailure = makeError(ErrorCode::HsmError, "test");
  EXPECT_EQ(codeOf(consume(grant, payments)), "STATE_UNAVAILABLE") << "a component failure answers the API code";

  state.useFailure = makeError(ErrorCode::StateUnavailable, "test");
  audit.failing = true;
  EXPECT_EQ(codeOf(consume(grant, payments)), "AUDIT_UNAVAILABLE") << "an unauditable refusal";
}

TEST_F(PepApiTest, ARevokedGrantIsRefused) {
  const json body = grantFor();
  ASSERT_TRUE(state.revoke(body["grant_id"], Clock::now() + std::chrono::hours(2)));
  auto r = consume(body["grant"], payments);
  EXPECT_EQ(statusOf(r), 403);
  EXPECT_EQ(codeOf(r), "GRANT_REVOKED");
}

TEST_F(PepApiTest, DelegationTakesTheChildsUsesFromTheParent) {
  config.grants.maxUses = 5;
  const json parent = grantFor();
  auto r = delegate(json{{"grant", parent["grant"]}, {"to", billing.spiffeId}, {"max_uses", 2u}}, payments);
  ASSERT_EQ(statusOf(r), 200) << describe(r);
  const json& child = std::get<Response>(r).body;
  EXPECT_EQ(child["parent_remaining_uses"], 3);
  auto claims = authority->verify(child["grant"].get<std::string>(), Clock::now());
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->holder(), billing.spiffeId);
  EXPECT_EQ(claims->anc, std::vector<std::string>{parent["grant_id"].get<std::string>()});
  EXPECT_EQ(statusOf(consume(child["grant"], payments)), 401) << "the parent's holder used the child";
  // The child is bound to billing's mTLS identity: any certificate of it.
  EXPECT_EQ(statusOf(consume(child["grant"], billing)), 200);
  EXPECT_EQ(audit.events.back()["type"], "consume");
}

TEST_F(PepApiTest, DelegationNeverWidens) {
  config.grants.maxUses = 3;
  const json parent = grantFor();
  const json base = {{"grant", parent["grant"]}, {"to", billing.spiffeId}};
  auto refused = [&](json extra, const char* code, int status) {
    json body = base;
    body.update(extra);
    auto r = delegate(body, payments);
    EXPECT_EQ(statusOf(r), status) << body.dump();
    EXPECT_EQ(codeOf(r), code) << body.dump() << " " << describe(r);
  };
  refused({{"max_uses", 4u}}, "SCOPE_WIDENED", 403);
  refused({{"resources", json::array({"sgref:v1:another"})}}, "SCOPE_WIDENED", 403);
  refused({{"ttl_seconds", 7200u}}, "SCOPE_WIDENED", 403);
  refused({{"actions", json::array({"rotate"})}}, "SCOPE_WIDENED", 403);
  refused({{"to", "spiffe://globex/billing"}}, "SCOPE_WIDENED", 403);
  refused({{"to", "spiffe://sealgate-admin/admin/admin"}}, "INVALID_REQUEST", 400);
  refused({{"max_uses", 0u}}, "SCOPE_WIDENED", 403);
  refused({{"ttl_seconds", 0u}}, "INVALID_REQUEST", 400);
  refused({{"jkt", "short"}}, "INVALID_REQUEST", 400);
  EXPECT_EQ(state.useCalls, 0) << "a refused delegation took uses from the parent";
  // Taking more uses than remain is refused too, after the state was asked.
  ASSERT_EQ(statusOf(consume(parent["grant"], payments)), 200);
  ASSERT_EQ(statusOf(consume(parent["grant"], payments)), 200);
  refused({{"max_uses", 2u}}, "SCOPE_WIDENED", 403);
}

TEST_F(PepApiTest, DelegationChainsStopAtTheConfiguredDepth) {
  config.grants.maxDelegationDepth = 2;
  config.grants.maxUses = 10;
  const Identity third = service("third", "thumb-third");
  const json root = grantFor();
  auto first = delegate(json{{"grant", root["grant"]}, {"to", billing.spiffeId}, {"max_uses", 5u}}, payments);
  ASSERT_EQ(statusOf(first), 200) << describe(first);
  auto second = delegate(
      json{{"grant", std::get<Response>(first).body["grant"]}, {"to", third.spiffeId}, {"max_uses", 2u}}, billing);
  ASSERT_EQ(statusOf(second), 200) << describe(second);
  auto tooDeep = delegate(json{{"grant", std::get<Response>(second).body["grant"]}, {"to", payments.spiffeId}}, third);
  EXPECT_EQ(statusOf(tooDeep), 403);
  EXPECT_EQ(codeOf(tooDeep), "DELEGATION_DEPTH");
}

TEST_F(PepApiTest, DelegationFromARevokedParentAndAFailingStateIsRefused) {
  const json parent = grantFor();
  const json body = {{"grant", parent["grant"]}, {"to", billing.spiffeId}};
  state.useFailure = makeError(ErrorCode::StateRollback, "test");
  auto r = delegate(body, payments);
  EXPECT_EQ(statusOf(r), 503);
  EXPECT_EQ(codeOf(r), "STATE_ROLLBACK");
  state.useFailure.reset();
  ASSERT_TRUE(state.revoke(parent["grant_id"], Clock::now() + std::chrono::hours(2)));
  EXPECT_EQ(codeOf(delegate(body, payments)), "GRANT_REVOKED");
}

TEST_F(PepApiTest, ADelegationThatCannotBeSignedOrAuditedFailsClosed) {
  config.grants.maxUses = 5;
  const json parent = grantFor();
  const json body = {{"grant", parent["grant"]}, {"to", billing.spiffeId}};
  grantKey.failing = true;
  EXPECT_EQ(codeOf(delegate(body, payments)), "HSM_UNAVAILABLE");
  grantKey.failing = false;
  audit.failing = true;
  auto r = delegate(body, payments);
  EXPECT_EQ(statusOf(r), 503);
  EXPECT_EQ(codeOf(r), "AUDIT_UNAVAILABLE");
}

}  // namespace
}  // namespace sealgate::appliance
