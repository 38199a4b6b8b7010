// The PEP's decisions, branch by branch, with its dependencies replaced by the
// fakes of tests/support/appliance_fakes.h: every refusal and every failure of a
// dependency is reached directly (the e2e suite drives the real ones over mTLS).
// Break-glass windows come from an in-memory BreakGlassWindows (below).
#include "appliance/grants/pep_api.h"

#include <gtest/gtest.h>

#include <algorithm>
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

// ---- break-glass (docs/BREAKGLASS.md, "Use in /v1/authorize") ----

// An in-memory BreakGlassWindows following core/interfaces/breakglass_windows.h:
// a window covers its tenant, URIs under its prefix (whole segments) and its
// actions; a pdp_outage window passes only items the PDP did not decide, an
// override window also its denials. windowFor() hands out any window marked
// `open` whatever its end (so a test can give authorize one at its very end);
// windowOpen() is true while `open` and before `endsAt`. It records every
// windowFor() question.
class MemoryWindows : public BreakGlassWindows {
 public:
  struct Window {
    std::string id;
    std::string prefix;
    std::int64_t endsAt = 0;
    bool override = false;
    std::string tenant = "acme";
    std::vector<std::string> actions{"use"};
    bool open = true;
  };
  struct Asked {
    std::string tenant, uri, action;
    bool pdpDenied = false;
    std::int64_t now = 0;
  };
  std::vector<Window> windows;
  mutable std::vector<Asked> asked;

  std::optional<OpenBreakGlassWindow> windowFor(const std::string& tenant, const std::string& canonicalUri,
                                                const std::string& action, bool pdpDenied,
                                                std::int64_t now) const override {
    asked.push_back({tenant, canonicalUri, action, pdpDenied, now});
    const std::string path = canonicalUri.substr(0, canonicalUri.find_first_of("?#"));
    for (const auto& w : windows) {
      if (!w.open || w.tenant != tenant || (pdpDenied && !w.override)) continue;
      if (std::find(w.actions.begin(), w.actions.end(), action) == w.actions.end()) continue;
      if (path != w.prefix && path.rfind(w.prefix + "/", 0) != 0) continue;
      return OpenBreakGlassWindow{w.id, w.endsAt};
    }
    return std::nullopt;
  }
  bool windowOpen(const std::string& id, std::int64_t now) const override {
    for (const auto& w : windows) {
      if (w.id == id) return w.open && now < w.endsAt;
    }
    return false;
  }
};

constexpr const char* kOtherUri = "secret://acme/kv/billing/key#v";

class PepApiBreakGlassTest : public PepApiTest {
 protected:
  PepApiBreakGlassTest() {
    presentation = std::make_unique<GrantPresentation>(config.grants, *authority, state, audit, &windows);
    presentation->setClock([this] { return Clock::time_point(std::chrono::seconds(now)); });
    pep = std::make_unique<PepApi>(config, refs, *authority, pdp, state, audit, *presentation, &windows);
  }
  HandlerResult authorizeBoth() {
    Request r = request(
        payments,
        json{{"requests", json::array({{{"uri", kUri}, {"action", "use"}}, {{"uri", kOtherUri}, {"action", "use"}}})}});
    return pep->authorize(r);
  }
  GrantClaims claimsOf(const HandlerResult& r) {
    const json& body = std::get<Response>(r).body;
    if (!body.contains("grant")) {
      ADD_FAILURE() << "no grant: " << body.dump();
      return GrantClaims{};
    }
    auto claims = authority->verify(body["grant"].get<std::string>(), Clock::time_point(std::chrono::seconds(now)));
    EXPECT_TRUE(claims) << claims.error().describe();
    return claims ? *claims : GrantClaims{};
  }
  // A window over kUri's folder ending `seconds` from now.
  void openWindow(const std::string& id, std::int64_t seconds, bool override = false) {
    windows.windows.push_back({id, "secret://acme/kv/payments", now + seconds, override});
  }

  std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
  MemoryWindows windows;
};

TEST_F(PepApiBreakGlassTest, PdpDownAWindowGrantsWhatItCoversAndNothingElse) {
  pdp.available = false;
  openWindow("w1", 120);
  ::testing::internal::CaptureStderr();
  auto r = authorizeBoth();
  const std::string logged = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(statusOf(r), 200) << describe(r);
  json body = std::get<Response>(r).body;  // a copy: a missing key reads as null
  EXPECT_EQ(body["results"][0]["decision"], "allow");
  EXPECT_EQ(body["results"][0]["obligations"], (json{{"breakglass", "w1"}}));
  EXPECT_EQ(body["results"][1]["decision"], "deny");
  EXPECT_EQ(body["results"][1]["reason"], "PDP_UNAVAILABLE");

  const GrantClaims claims = claimsOf(r);
  EXPECT_EQ(claims.bg, "w1");
  EXPECT_EQ(claims.res, std::vector<std::string>{body["results"][0]["resource_ref"].get<std::string>()});
  EXPECT_LE(claims.exp, now + 120) << "the grant outlives its window";
  EXPECT_EQ(claims.exp, now + 120);

  // authorize asked about each item with the caller's tenant, the canonical URI,
  // the action, and that the PDP did not deny (it failed).
  ASSERT_EQ(windows.asked.size(), 2u);
  EXPECT_EQ(windows.asked[0].tenant, "acme");
  EXPECT_EQ(windows.asked[0].uri, SecretUri::parse(kUri)->canonical());
  EXPECT_EQ(windows.asked[1].uri, SecretUri::parse(kOtherUri)->canonical());
  EXPECT_EQ(windows.asked[0].action, "use");
  EXPECT_FALSE(windows.asked[0].pdpDenied);
  EXPECT_EQ(windows.asked[0].now, now);

  ASSERT_EQ(audit.events.size(), 1u);
  json event = audit.events[0];
  EXPECT_EQ(event["breakglass"], "w1");
  EXPECT_EQ(event["decision"], "partial");
  EXPECT_EQ(event["results"][0]["breakglass"], "w1");
  EXPECT_FALSE(event["results"][1].contains("breakglass"));
  EXPECT_EQ(event["results"][1]["reason"], "PDP_UNAVAILABLE");

  EXPECT_NE(logged.find("\"breakglass_grant\""), std::string::npos) << logged;
  EXPECT_NE(logged.find("\"window_id\":\"w1\""), std::string::npos) << logged;
  EXPECT_NE(logged.find(claims.jti), std::string::npos) << logged;
  EXPECT_NE(logged.find("\"correlation_id\":\"test\""), std::string::npos) << logged;
  EXPECT_EQ(logged.find("payments/stripe"), std::string::npos) << "the log names the URI";
}

TEST_F(PepApiBreakGlassTest, AWindowNeverLengthensTheGrantOrLiftsTheCeilings) {
  pdp.available = false;
  config.grants.maxTtl = std::chrono::seconds(60);
  config.grants.maxUses = 3;
  openWindow("w1", 600);
  auto r = authorize();
  ASSERT_EQ(statusOf(r), 200) << describe(r);
  const GrantClaims claims = claimsOf(r);
  EXPECT_EQ(claims.exp, now + 60);
  EXPECT_EQ(claims.maxUses, 3u);
}

TEST_F(PepApiBreakGlassTest, PdpDownAndNoWindowCoveringAnItemIsStillUnavailable) {
  pdp.available = false;
  openWindow("payroll", 120);
  windows.windows.back().prefix = "secret://acme/kv/payroll";
  openWindow("inspect-only", 120);
  windows.windows.back().actions = {"inspect"};
  openWindow("globex", 120);
  windows.windows.back().tenant = "globex";
  windows.windows.push_back({"globex-billing", "secret://globex/kv/billing", now + 120});
  windows.windows.back().tenant = "globex";
  Request req = request(
      payments, json{{"requests", json::array({{{"uri", kUri}, {"action", "use"}},
                                               {{"uri", "secret://globex/kv/billing/key#v"}, {"action", "use"}}})}});
  auto r = pep->authorize(req);
  EXPECT_EQ(statusOf(r), 503);
  EXPECT_EQ(codeOf(r), "PDP_UNAVAILABLE");
  EXPECT_TRUE(audit.events.empty());
  ASSERT_EQ(windows.asked.size(), 1u) << "windows were asked about an item of another tenant";
  EXPECT_EQ(windows.asked[0].tenant, "acme");
}

TEST_F(PepApiBreakGlassTest, AWindowCoversOnlyItsActions) {
  pdp.available = false;
  openWindow("w1", 120);  // "use" only
  auto r = authorize(kUri, "inspect");
  EXPECT_EQ(codeOf(r), "PDP_UNAVAILABLE");
  ASSERT_EQ(windows.asked.size(), 1u);
  EXPECT_EQ(windows.asked[0].action, "inspect");

  windows.windows.back().actions = {"inspect"};
  r = authorize(kUri, "inspect");
  ASSERT_EQ(statusOf(r), 200) << describe(r);
  const GrantClaims claims = claimsOf(r);
  ASSERT_EQ(claims.res.size(), 1u);
  EXPECT_EQ(claims.obl[claims.res[0]], (json{{"inspect", {{"breakglass", "w1"}}}}));
}

TEST_F(PepApiBreakGlassTest, AWindowAtItsVeryEndGrantsNothing) {
  pdp.available = false;
  openWindow("w1", 0);
  auto r = authorize();
  EXPECT_EQ(statusOf(r), 503);
  EXPECT_EQ(codeOf(r), "PDP_UNAVAILABLE");

  pdp.available = true;
  pdp.answerNothing = true;
  r = authorize();
  ASSERT_EQ(statusOf(r), 200);
  EXPECT_FALSE(std::get<Response>(r).body.contains("grant"));
  EXPECT_EQ(std::get<Response>(r).body["results"][0]["reason"], "PDP_NO_DECISION");
}

TEST_F(PepApiBreakGlassTest, APdpDenialPassesOnlyAnOverrideWindow) {
  pdp.allow = false;
  openWindow("outage", 120);
  auto r = authorize();
  ASSERT_EQ(statusOf(r), 200);
  EXPECT_FALSE(std::get<Response>(r).body.contains("grant")) << "a pdp_outage window passed a PDP deny";
  EXPECT_EQ(std::get<Response>(r).body["results"][0]["reason"], "POLICY_DENIED");
  ASSERT_EQ(windows.asked.size(), 1u);
  EXPECT_TRUE(windows.asked[0].pdpDenied);
  EXPECT_FALSE(audit.events.back().contains("breakglass"));

  windows.windows.back().override = true;
  r = authorize();
  ASSERT_EQ(statusOf(r), 200);
  EXPECT_EQ(claimsOf(r).bg, "outage");
  EXPECT_EQ(std::get<Response>(r).body["results"][0]["obligations"], (json{{"breakglass", "outage"}}));
  EXPECT_EQ(audit.events.back()["breakglass"], "outage");
}

TEST_F(PepApiBreakGlassTest, AnItemWithoutADecisionPassesAnOutageWindow) {
  pdp.answerNothing = true;
  openWindow("outage", 120);
  auto r = authorize();
  ASSERT_EQ(statusOf(r), 200);
  EXPECT_EQ(claimsOf(r).bg, "outage");
  ASSERT_EQ(windows.asked.size(), 1u);
  EXPECT_FALSE(windows.asked[0].pdpDenied);
}

TEST_F(PepApiBreakGlassTest, WhatThePdpAllowsNeverAsksTheWindowsNorCarriesOne) {
  openWindow("w1", 120);
  const json body = grantFor();
  EXPECT_TRUE(windows.asked.empty());
  auto claims = authority->verify(body["grant"].get<std::string>(), Clock::time_point(std::chrono::seconds(now)));
  ASSERT_TRUE(claims);
  EXPECT_FALSE(claims->bg);
  EXPECT_FALSE(audit.events.back().contains("breakglass"));
  ASSERT_EQ(statusOf(consume(body["grant"], payments)), 200);
  EXPECT_FALSE(audit.events.back().contains("breakglass"));
}

TEST_F(PepApiBreakGlassTest, BreakGlassAuthorizationsAreNeverSampledOut) {
  config.audit.sampleAllow = 1000;
  ASSERT_EQ(statusOf(authorize()), 200);  // the first allow of 1000 is logged
  ASSERT_EQ(audit.events.size(), 1u);
  ASSERT_EQ(statusOf(authorize()), 200);
  ASSERT_EQ(audit.events.size(), 1u) << "sampling is off: this test would prove nothing";

  pdp.available = false;
  openWindow("w1", 120);
  for (int i = 0; i < 5; ++i) {
    auto r = authorize();
    ASSERT_EQ(statusOf(r), 200) << describe(r);
    ASSERT_EQ(audit.events.size(), 2u + i) << "a break-glass authorization was sampled out";
    EXPECT_EQ(audit.events.back()["decision"], "allow");
    EXPECT_EQ(audit.events.back()["breakglass"], "w1");
  }
}

TEST_F(PepApiBreakGlassTest, ABreakGlassGrantIsUsableOnlyWhileItsWindowIsOpen) {
  config.grants.maxUses = 5;
  pdp.available = false;
  openWindow("w1", 120);
  auto r = authorize();
  ASSERT_EQ(statusOf(r), 200) << describe(r);
  const std::string grant = std::get<Response>(r).body["grant"];

  ASSERT_EQ(statusOf(consume(grant, payments)), 200);
  EXPECT_EQ(audit.events.back()["type"], "consume");
  EXPECT_EQ(audit.events.back()["breakglass"], "w1");

  auto delegated = delegate(json{{"grant", grant}, {"to", billing.spiffeId}, {"max_uses", 2u}}, payments);
  ASSERT_EQ(statusOf(delegated), 200) << describe(delegated);
  EXPECT_EQ(audit.events.back()["type"], "delegate");
  EXPECT_EQ(audit.events.back()["breakglass"], "w1");
  const std::string child = std::get<Response>(delegated).body["grant"];
  EXPECT_EQ(authority->verify(child, Clock::time_point(std::chrono::seconds(now)))->bg, "w1");
  ASSERT_EQ(statusOf(consume(child, billing)), 200);
  EXPECT_EQ(audit.events.back()["breakglass"], "w1");

  windows.windows.back().open = false;  // an admin closed it
  const int uses = state.useCalls;
  const std::size_t events = audit.events.size();
  for (const auto& [token, who] : {std::pair{grant, payments}, std::pair{child, billing}}) {
    auto refused = consume(token, who);
    EXPECT_EQ(statusOf(refused), 403);
    EXPECT_EQ(codeOf(refused), "BREAKGLASS_WINDOW_CLOSED");
  }
  auto refused = delegate(json{{"grant", grant}, {"to", billing.spiffeId}}, payments);
  EXPECT_EQ(codeOf(refused), "BREAKGLASS_WINDOW_CLOSED");
  EXPECT_EQ(state.useCalls, uses) << "a use was taken for a grant of a closed window";
  EXPECT_EQ(audit.events.size(), events);
}

TEST_F(PepApiBreakGlassTest, TheGrantsClockLeewayDoesNotOutlastItsWindow) {
  pdp.available = false;
  openWindow("w1", 30);
  auto r = authorize();
  ASSERT_EQ(statusOf(r), 200) << describe(r);
  const std::string grant = std::get<Response>(r).body["grant"];
  now += 31;  // past the window's end and exp, within the 5 s leeway
  ASSERT_TRUE(authority->verify(grant, Clock::time_point(std::chrono::seconds(now))));
  auto refused = consume(grant, payments);
  EXPECT_EQ(codeOf(refused), "BREAKGLASS_WINDOW_CLOSED");
  EXPECT_EQ(state.useCalls, 0);
}

TEST_F(PepApiBreakGlassTest, ARefusedUseOfABreakGlassGrantIsAuditedWithItsWindow) {
  config.grants.maxUses = 1;
  pdp.available = false;
  openWindow("w1", 120);
  auto r = authorize();
  ASSERT_EQ(statusOf(r), 200) << describe(r);
  const std::string grant = std::get<Response>(r).body["grant"];
  ASSERT_EQ(statusOf(consume(grant, payments)), 200);
  EXPECT_EQ(codeOf(consume(grant, payments)), "GRANT_EXHAUSTED");
  EXPECT_EQ(audit.events.back()["outcome"], "GRANT_EXHAUSTED");
  EXPECT_EQ(audit.events.back()["breakglass"], "w1");
}

TEST_F(PepApiBreakGlassTest, WithoutWindowsABreakGlassGrantIsRefused) {
  pdp.available = false;
  openWindow("w1", 120);
  auto r = authorize();
  ASSERT_EQ(statusOf(r), 200) << describe(r);
  GrantPresentation withoutWindows(config.grants, *authority, state, audit);
  withoutWindows.setClock([this] { return Clock::time_point(std::chrono::seconds(now)); });
  Request req = request(payments, json::object());
  auto verified = withoutWindows.verify(req, std::get<Response>(r).body["grant"]);
  ASSERT_TRUE(std::holds_alternative<HttpError>(verified));
  EXPECT_EQ(std::get<HttpError>(verified).code, ErrorCode::BreakglassWindowClosed);
  ASSERT_TRUE(std::holds_alternative<GrantClaims>(presentation->verify(req, std::get<Response>(r).body["grant"])));
}

}  // namespace
}  // namespace sealgate::appliance
