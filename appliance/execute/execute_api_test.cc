// POST /v1/execute step by step (execute_api.h), with the fakes of
// tests/support/appliance_fakes.h: what is refused before the attempt spends
// nothing and runs nothing; from the spent use on, every outcome is audited; no
// value reaches the answer or the audit event. The e2e suite runs the real
// connectors and providers (tests/e2e/test_execute.py).
#include "appliance/execute/execute_api.h"

#include <gtest/gtest.h>

#include <string>

#include "appliance/grants/pep_api.h"
#include "tests/support/appliance_fakes.h"

namespace sealgate::appliance {
namespace {

using nlohmann::json;
using namespace testing::fakes;

constexpr const char* kUri = "secret://acme/kv/payments/stripe#api_key";
constexpr const char* kValue = "sk_live_9f8e7d6c5b4a39281706";  // a usable value: long, varied

class ExecuteApiTest : public ::testing::Test {
 protected:
  ExecuteApiTest() : refs(mac, 16) {
    config.name = "sg";
    config.grants.maxUses = 5;
    authority = std::move(*GrantAuthority::load(grantKey.keys(), "sg"));
    presentation = std::make_unique<GrantPresentation>(config.grants, *authority, state, audit);
    pep = std::make_unique<PepApi>(config, refs, *authority, pdp, state, audit, *presentation);
    execute = std::make_unique<ExecuteApi>(
        config.connectors, *presentation, refs, secrets, audit,
        [](const std::string&, const std::string&) { return EgressRules{}; }, "sealgate vocabulary", metrics);
    auto c = std::make_unique<ReportingConnector>("rest");
    connector = c.get();
    execute->add(std::move(c));
    auto h = std::make_unique<ReportingConnector>("hmac");
    hmac = h.get();
    execute->add(std::move(h));
    secrets.values[SecretUri::parse(kUri)->canonical()] = kValue;
  }

  // A grant for `uri`, allowing `action` with `obligations`.
  std::string grant(const std::string& uri = kUri, const std::string& action = "use",
                    const std::string& obligations = "{}") {
    pdp.obligations = obligations;
    Request r = request(json{{"requests", json::array({{{"uri", uri}, {"action", action}}})}});
    auto result = pep->authorize(r);
    EXPECT_EQ(statusOf(result), 200) << describe(result);
    audit.events.clear();
    return std::get<Response>(result).body.value("grant", "");
  }
  Request request(json body) {
    Request r;
    r.correlationId = "test";
    r.method = "POST";
    r.identity = payments;
    r.body = std::move(body);
    return r;
  }
  HandlerResult run(const std::string& grantToken, json slots, json action) {
    EgressScope scope;  // the HTTP server opens one per request
    Request r = request(json{{"grant", grantToken}, {"slots", std::move(slots)}, {"action", std::move(action)}});
    return execute->execute(r);
  }
  HandlerResult runRest(const std::string& grantToken) {
    return run(grantToken, json{{"key", kUri}}, json{{"connector", "rest"}, {"uses", {"key"}}});
  }
  int usesTaken() const { return state.useCalls; }

  Config config;
  SoftwareMac mac;
  ResourceRefs refs;
  SoftwareGrantKey grantKey;
  std::unique_ptr<GrantAuthority> authority;
  ScriptedPdp pdp;
  ControllableState state;
  RecordingAudit audit;
  MapSecrets secrets;
  Metrics metrics;
  std::unique_ptr<GrantPresentation> presentation;
  std::unique_ptr<PepApi> pep;
  std::unique_ptr<ExecuteApi> execute;
  ReportingConnector* connector = nullptr;
  ReportingConnector* hmac = nullptr;
  Identity payments = service("payments", "thumb-payments");
};

TEST_F(ExecuteApiTest, ASpentUseRunsTheConnectorWithTheValueAndAuditsWithoutIt) {
  auto r = runRest(grant());
  ASSERT_EQ(statusOf(r), 200) << describe(r);
  EXPECT_EQ(connector->seen["key"], kValue);
  const json& body = std::get<Response>(r).body;
  EXPECT_EQ(body["remaining_uses"], 4);
  ASSERT_EQ(audit.events.size(), 1u);
  const json& event = audit.events[0];
  EXPECT_EQ(event["type"], "execute");
  EXPECT_EQ(event["outcome"], "ok");
  EXPECT_EQ(body["audit_id"], "1");
  EXPECT_EQ(event.dump().find(kValue), std::string::npos);
  EXPECT_EQ(event.dump().find("payments/stripe"), std::string::npos) << "the audit event names the URI";
}

TEST_F(ExecuteApiTest, AValueTheConnectorSendsBackIsScrubbedFromTheAnswer) {
  connector->echoSlots = true;
  auto r = runRest(grant());
  ASSERT_EQ(statusOf(r), 200) << describe(r);
  const std::string answer = std::get<Response>(r).body.dump();
  EXPECT_EQ(answer.find(kValue), std::string::npos);
  EXPECT_GE(audit.events.at(0)["redactions"].get<int>(), 1);
}

TEST_F(ExecuteApiTest, RefusalsBeforeTheAttemptSpendNothingRunNothingAndAuditNothing) {
  const std::string token = grant();
  const json slots = {{"key", kUri}};
  struct Case {
    json slots;
    json action;
    int status;
    const char* code;
  };
  const std::vector<Case> cases = {
      {slots, {{"connector", "ftp"}, {"uses", {"key"}}}, 400, "CONNECTOR_UNKNOWN"},
      {slots, {{"uses", {"key"}}}, 400, "INVALID_ACTION"},
      {{{"key", "secret://acme/kv/payments/other#k"}},
       {{"connector", "rest"}, {"uses", {"key"}}},
       403,
       "SLOT_NOT_COVERED"},
      {{{"key", "secret://globex/kv/billing/key#v"}},
       {{"connector", "rest"}, {"uses", {"key"}}},
       403,
       "URI_TENANT_MISMATCH"},
      {{{"key", "not a uri"}}, {{"connector", "rest"}, {"uses", {"key"}}}, 400, "URI_CHARSET"},
      {{{"bad name!", kUri}}, {{"connector", "rest"}, {"uses", {"bad name!"}}}, 400, "INVALID_REQUEST"},
      {json::object(), {{"connector", "rest"}}, 400, "INVALID_REQUEST"},
      {slots, {{"connector", "rest"}, {"uses", {"key", "other"}}}, 400, "SLOT_UNKNOWN"},
      {slots, {{"connector", "rest"}, {"uses", json::array()}}, 400, "SLOT_UNUSED"},
      {slots, {{"connector", "hmac"}, {"uses", {"key"}}}, 403, "CONNECTOR_NOT_ALLOWED"},
  };
  for (const auto& c : cases) {
    auto r = run(token, c.slots, c.action);
    EXPECT_EQ(statusOf(r), c.status) << c.action.dump() << " " << describe(r);
    EXPECT_EQ(codeOf(r), c.code) << c.action.dump() << " " << describe(r);
  }
  connector->refusal = makeError(connector_errc::kDestinationForbidden, "not on the allow-list");
  auto r = runRest(token);
  EXPECT_EQ(statusOf(r), 403);
  EXPECT_EQ(codeOf(r), "DESTINATION_FORBIDDEN");
  EXPECT_EQ(usesTaken(), 0);
  EXPECT_EQ(secrets.fetches, 0);
  EXPECT_EQ(connector->runs + hmac->runs, 0);
  EXPECT_TRUE(audit.events.empty());
}

TEST_F(ExecuteApiTest, AGrantForAnotherActionOrConnectorDoesNotExecute) {
  auto r = runRest(grant(kUri, "inspect"));
  EXPECT_EQ(statusOf(r), 403);
  EXPECT_EQ(codeOf(r), "ACTION_NOT_GRANTED");
  // hmac only where the use's obligations name it.
  const std::string token = grant(kUri, "use", R"({"connectors": ["hmac"]})");
  r = run(token, json{{"key", kUri}}, json{{"connector", "hmac"}, {"uses", {"key"}}});
  EXPECT_EQ(statusOf(r), 200) << describe(r);
  r = runRest(token);
  EXPECT_EQ(codeOf(r), "CONNECTOR_NOT_ALLOWED") << "the obligation's list excludes rest";
}

TEST_F(ExecuteApiTest, FailuresAfterTheSpentUseAreAuditedAndAnsweredWithTheAuditId) {
  const std::string token = grant();
  secrets.failure = makeError(provider_errc::kUnavailable, "test");
  auto r = runRest(token);
  EXPECT_EQ(statusOf(r), 503);
  EXPECT_EQ(codeOf(r), "PROVIDER_UNAVAILABLE");
  EXPECT_EQ(std::get<HttpError>(r).headers.at("X-Sealgate-Audit-Id"), "1");
  EXPECT_EQ(audit.events.back()["failed_slot"], "key");
  EXPECT_EQ(connector->runs, 0);
  secrets.failure.reset();

  connector->failure = makeError(connector_errc::kPeerTimeout, "the peer did not answer");
  r = runRest(token);
  EXPECT_EQ(statusOf(r), 504);
  EXPECT_EQ(audit.events.back()["outcome"], "PEER_TIMEOUT");
  connector->failure = makeError(connector_errc::kPeerAuthFailed, "refused");
  EXPECT_EQ(statusOf(runRest(token)), 502);
  EXPECT_EQ(usesTaken(), 3);
  EXPECT_EQ(audit.events.size(), 3u);
}

TEST_F(ExecuteApiTest, UnusableValuesAreRefusedAfterTheSpendWithoutRunningOrGoingLive) {
  const std::string token = grant();
  const std::string canonical = SecretUri::parse(kUri)->canonical();
  for (const auto& [value, reason] : {std::pair<std::string, std::string>{"short", "too_short"},
                                      {std::string(40, 'a'), "low_entropy"},
                                      {"sealgate vocabulary", "too_common"}}) {
    secrets.values[canonical] = value;
    auto r = runRest(token);
    EXPECT_EQ(statusOf(r), 422) << reason << " " << describe(r);
    EXPECT_EQ(codeOf(r), "SECRET_UNUSABLE");
    EXPECT_EQ(audit.events.back()["unusable"], reason);
  }
  EXPECT_EQ(connector->runs, 0);
}

TEST_F(ExecuteApiTest, AnAttemptThatCannotBeAuditedWithholdsItsResult) {
  const std::string token = grant();
  audit.failing = true;
  auto r = runRest(token);
  EXPECT_EQ(statusOf(r), 503);
  EXPECT_EQ(codeOf(r), "AUDIT_UNAVAILABLE");
  EXPECT_EQ(connector->runs, 1);
  EXPECT_EQ(usesTaken(), 1) << "the use is spent: the attempt happened";
}

TEST_F(ExecuteApiTest, ExhaustedGrantsAndFailingStateRefuseBeforeAnyFetch) {
  config.grants.maxUses = 1;
  const std::string token = grant();
  ASSERT_EQ(statusOf(runRest(token)), 200);
  auto r = runRest(token);
  EXPECT_EQ(codeOf(r), "GRANT_EXHAUSTED");
  state.useFailure = makeError(ErrorCode::StateUnavailable, "test");
  r = runRest(grant());
  EXPECT_EQ(statusOf(r), 503);
  EXPECT_EQ(codeOf(r), "STATE_UNAVAILABLE");
  EXPECT_EQ(secrets.fetches, 1) << "only the first, successful execute fetched";
}

TEST_F(ExecuteApiTest, WithoutAnEgressScopeNothingRuns) {
  Request r = request(
      json{{"grant", grant()}, {"slots", {{"key", kUri}}}, {"action", {{"connector", "rest"}, {"uses", {"key"}}}}});
  auto result = execute->execute(r);
  EXPECT_EQ(statusOf(result), 500);
  EXPECT_EQ(connector->runs, 0);
}

// One break-glass window (core/interfaces/breakglass_windows.h's contract, in
// memory): while `open` and before `endsAt` it covers every item of tenant acme
// the PDP did not decide.
class OneWindow : public BreakGlassWindows {
 public:
  bool open = true;
  std::int64_t endsAt = 0;
  std::optional<OpenBreakGlassWindow> windowFor(const std::string& tenant, const std::string&, const std::string&,
                                                bool pdpDenied, std::int64_t now) const override {
    if (!open || now >= endsAt || tenant != "acme" || pdpDenied) return std::nullopt;
    return OpenBreakGlassWindow{"w1", endsAt};
  }
  bool windowOpen(const std::string& id, std::int64_t now) const override { return open && id == "w1" && now < endsAt; }
};

TEST_F(ExecuteApiTest, ABreakGlassGrantExecutesOnlyWhileItsWindowIsOpenAndIsAuditedWithIt) {
  OneWindow window;
  window.endsAt =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
      300;
  presentation = std::make_unique<GrantPresentation>(config.grants, *authority, state, audit, &window);
  pep = std::make_unique<PepApi>(config, refs, *authority, pdp, state, audit, *presentation, &window);
  execute = std::make_unique<ExecuteApi>(
      config.connectors, *presentation, refs, secrets, audit,
      [](const std::string&, const std::string&) { return EgressRules{}; }, "sealgate vocabulary", metrics);
  auto c = std::make_unique<ReportingConnector>("rest");
  connector = c.get();
  execute->add(std::move(c));

  pdp.available = false;
  const std::string token = grant();
  ASSERT_FALSE(token.empty());
  auto r = runRest(token);
  ASSERT_EQ(statusOf(r), 200) << describe(r);
  ASSERT_EQ(audit.events.size(), 1u);
  EXPECT_EQ(audit.events[0]["type"], "execute");
  EXPECT_EQ(audit.events[0].value("breakglass", ""), "w1");

  window.open = false;
  r = runRest(token);
  EXPECT_EQ(statusOf(r), 403);
  EXPECT_EQ(codeOf(r), "BREAKGLASS_WINDOW_CLOSED");
  EXPECT_EQ(connector->runs, 1);
  EXPECT_EQ(usesTaken(), 1);
}

}  // namespace
}  // namespace sealgate::appliance
