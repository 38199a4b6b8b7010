// The grant admin endpoints (state_admin_api.h) over the in-memory StateStore:
// who may list and revoke; a revocation the log cannot record, or the state
// cannot keep, is refused and, unaudited, changes nothing. The e2e suite runs
// them on the daemon (tests/e2e/test_grants.py).
#include "appliance/state/state_admin_api.h"

#include <gtest/gtest.h>

#include "tests/support/memory_state_store.h"

namespace sealgate::appliance {
namespace {

using nlohmann::json;
using Clock = StateStore::Clock;

class Audit : public AuditSink {
 public:
  bool failing = false;
  std::vector<json> events;
  Result<std::uint64_t> append(const std::string& e) override {
    if (failing) return makeError(ErrorCode::AuditIo, "injected");
    events.push_back(json::parse(e));
    return events.size();
  }
  bool healthy() const override { return !failing; }
};

class State : public MemoryStateStore {
 public:
  bool failing = false;
  std::vector<Clock::time_point> keptUntil;
  Result<void> revoke(const std::string& id, Clock::time_point until) override {
    if (failing) return makeError(ErrorCode::StateUnavailable, "injected");
    keptUntil.push_back(until);
    return MemoryStateStore::revoke(id, until);
  }
};

std::string codeOf(const HandlerResult& r) {
  const auto* e = std::get_if<HttpError>(&r);
  return e ? std::string(errorCodeName(e->code)) : "200";
}

class StateAdminApiTest : public ::testing::Test {
 protected:
  StateAdminApiTest() : api(state, audit, [this] { return keepUntil; }) {}

  static Request req(const std::string& id, const std::string& role = "admin") {
    Request r;
    r.correlationId = "c-2";
    r.pathParam = id;
    r.identity.kind = IdentityKind::Admin;
    r.identity.role = role;
    r.identity.spiffeId = "spiffe://sealgate-admin/" + role + "/alice";
    r.identity.certThumbprint = "x5t";
    return r;
  }
  json listed(const std::string& role = "admin") {
    Request r = req("", role);
    auto out = api.listGrants(r);
    EXPECT_EQ(codeOf(out), "200");
    return std::holds_alternative<Response>(out) ? std::get<Response>(out).body["grants"] : json();
  }

  const Clock::time_point keepUntil = Clock::now() + std::chrono::hours(48);
  State state;
  Audit audit;
  StateAdminApi api;
};

TEST_F(StateAdminApiTest, AnAdminRevokesAuditedFirstAndKeptForAGrantsLongestLife) {
  Request r = req("g-1");
  auto out = api.revokeGrant(r);
  ASSERT_EQ(codeOf(out), "200");
  EXPECT_EQ(std::get<Response>(out).body, (json{{"grant_id", "g-1"}, {"revoked", true}}));
  ASSERT_EQ(audit.events.size(), 1u);
  EXPECT_EQ(audit.events[0]["type"], "grant_revoke");
  EXPECT_EQ(audit.events[0]["grant_id"], "g-1");
  EXPECT_EQ(audit.events[0]["outcome"], "revoked");
  EXPECT_EQ(audit.events[0]["actor"]["role"], "admin");
  ASSERT_EQ(state.keptUntil.size(), 1u);
  EXPECT_EQ(state.keptUntil[0], keepUntil);
  const json grants = listed("auditor");
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0]["grant_id"], "g-1");
  EXPECT_EQ(grants[0]["revoked"], true);
}

TEST_F(StateAdminApiTest, TheReasonGivenGoesIntoTheAuditEvent) {
  Request r = req("g-1");
  r.query = "reason=leaked+in+a+build+log";
  ASSERT_EQ(codeOf(api.revokeGrant(r)), "200");
  ASSERT_EQ(audit.events.size(), 1u);
  EXPECT_EQ(audit.events[0]["reason"], "leaked in a build log");
  for (const std::string& bad :
       std::vector<std::string>{"reason=%0a", "reason=%zz", "reason=" + std::string(501, 'x')}) {
    Request refused = req("g-2");
    refused.query = bad;
    EXPECT_EQ(codeOf(api.revokeGrant(refused)), "INVALID_REQUEST") << bad;
  }
  EXPECT_EQ(audit.events.size(), 1u);
  EXPECT_EQ(state.keptUntil.size(), 1u);
}

TEST_F(StateAdminApiTest, OnlyAnAdminRevokes) {
  for (const char* role : {"auditor", "approver", ""}) {
    Request r = req("g-1", role);
    EXPECT_EQ(codeOf(api.revokeGrant(r)), "FORBIDDEN") << role;
  }
  EXPECT_TRUE(audit.events.empty());
  EXPECT_TRUE(state.keptUntil.empty());
  EXPECT_TRUE(listed().empty());
}

TEST_F(StateAdminApiTest, ListingSuitsAdminsAndAuditorsOnly) {
  EXPECT_TRUE(listed("admin").is_array());
  EXPECT_TRUE(listed("auditor").is_array());
  Request r = req("", "approver");
  EXPECT_EQ(codeOf(api.listGrants(r)), "FORBIDDEN");
}

TEST_F(StateAdminApiTest, ARevocationTheLogCannotRecordChangesNothing) {
  audit.failing = true;
  Request r = req("g-1");
  auto out = api.revokeGrant(r);
  ASSERT_EQ(codeOf(out), "AUDIT_UNAVAILABLE");
  EXPECT_EQ(std::get<HttpError>(out).status, 503);
  EXPECT_EQ(std::get<HttpError>(out).message, "the audit log cannot record the revocation; nothing changed");
  EXPECT_TRUE(state.keptUntil.empty());
  EXPECT_TRUE(listed().empty());
}

TEST_F(StateAdminApiTest, ARevocationTheStateCannotKeepIsStateUnavailable) {
  state.failing = true;
  Request r = req("g-1");
  auto out = api.revokeGrant(r);
  EXPECT_EQ(codeOf(out), "STATE_UNAVAILABLE");
  EXPECT_EQ(std::get<HttpError>(out).message, "the revocation could not be recorded");
  EXPECT_TRUE(listed().empty());
}

}  // namespace
}  // namespace sealgate::appliance
