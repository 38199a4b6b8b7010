// LeaseApi's rules (lease_api.h) over an in-memory LeaseBackend: who may ask for
// a credential and change a lease, that the audit event comes before the
// credential or the change (no audit: nothing handed out, nothing revoked), how
// a backend's failure reaches the caller, the Vault and admin shapes of the
// answers, the refusals of malformed input, and that the password appears in the
// creds answer only. The e2e suite runs the real PostgreSQL backend
// (tests/e2e/test_leases.py).
#include "appliance/kv/lease_api.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "providers/database_credentials.h"
#include "tests/support/appliance_fakes.h"

namespace sealgate::appliance {
namespace {

using nlohmann::json;
using namespace testing::fakes;
namespace db_errc = providers::db_errc;

constexpr const char* kCanary = "canary-pw-7f3a9c1e5b";  // the password the fake hands out
constexpr const char* kAdmin = "spiffe://sealgate-admin/admin/alice";

// Leases in a map; every operation counted, each one's failure switchable.
class MemoryLeases : public LeaseBackend {
 public:
  std::set<std::pair<std::string, std::string>> mounts{{"acme", "db"}};
  std::set<std::string> roles{"readonly", "owner"};
  std::map<std::string, LeaseInfo> live;
  std::optional<Error> createFailure, renewFailure, revokeFailure, prefixFailure;
  int creates = 0, renews = 0, revokes = 0, prefixRevokes = 0;

  bool hasMount(const std::string& tenant, const std::string& mount) const override {
    return mounts.count({tenant, mount}) != 0;
  }
  Result<LeasedCredential> create(const std::string& tenant, const std::string& mount, const std::string& role,
                                  Clock::time_point now) override {
    ++creates;
    if (createFailure) return *createFailure;
    if (roles.count(role) == 0) return makeError(db_errc::kNoRole, "no such role");
    char suffix[25];
    std::snprintf(suffix, sizeof suffix, "%024d", creates);
    LeaseInfo l{tenant + "/" + mount + "/creds/" + role + "/" + suffix,
                tenant,
                mount,
                role,
                "v-" + role + "-" + std::to_string(creates),
                now,
                now,
                now + std::chrono::hours(1),
                now + std::chrono::hours(24)};
    live[l.leaseId] = l;
    return LeasedCredential{l, std::move(*Secret::copyFrom(std::string(kCanary)))};
  }
  Result<LeaseInfo> renew(const std::string& id, std::chrono::seconds increment, Clock::time_point now) override {
    ++renews;
    if (renewFailure) return *renewFailure;
    auto it = live.find(id);
    if (it == live.end()) return makeError(db_errc::kNoLease, "no such lease");
    const auto by = increment.count() == 0 ? std::chrono::seconds(3600) : increment;
    it->second.expireTime = std::min(now + by, it->second.maxExpireTime);
    it->second.lastRenewal = now;
    return it->second;
  }
  Result<LeaseInfo> lookup(const std::string& id) const override {
    auto it = live.find(id);
    if (it == live.end()) return makeError(db_errc::kNoLease, "no such lease");
    return it->second;
  }
  Result<void> revoke(const std::string& id) override {
    ++revokes;
    if (revokeFailure) return *revokeFailure;
    if (live.erase(id) == 0) return makeError(db_errc::kNoLease, "no such lease");
    return Ok{};
  }
  Result<std::size_t> revokePrefix(const std::string& prefix) override {
    ++prefixRevokes;
    if (prefixFailure) return *prefixFailure;
    std::size_t n = 0;
    for (auto it = live.begin(); it != live.end();) {
      if (it->first.rfind(prefix, 0) == 0) {
        it = live.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }
  std::vector<LeaseInfo> leases() const override {
    std::vector<LeaseInfo> out;
    for (const auto& [id, l] : live) out.push_back(l);
    return out;
  }
};

// Records events; refuses every append from the `failFrom`-th on (0: all).
class CountingAudit : public AuditSink {
 public:
  std::optional<std::size_t> failFrom;
  std::vector<json> events;
  Result<std::uint64_t> append(const std::string& e) override {
    if (failFrom && events.size() >= *failFrom) return makeError(ErrorCode::AuditIo, "injected: the disk is full");
    events.push_back(json::parse(e));
    return events.size();
  }
  bool healthy() const override { return !failFrom; }
};

constexpr const char* kPolicy = R"({"version": 1, "rules": [
  {"id": "admin-db-readonly", "effect": "allow", "subjects": ["spiffe://sealgate-admin/admin/*"],
   "resources": ["secret://acme/db/readonly"], "actions": ["reveal"]}]})";

class LeaseApiTest : public ::testing::Test {
 protected:
  LeaseApiTest()
      : refs(mac, 16),
        pdp(std::make_shared<const Policy>(*Policy::parse(kPolicy))),
        api(&leases, "acme", refs, pdp, audit),
        noDb(nullptr, "acme", refs, pdp, audit) {}

  Request req(const std::string& method, json body = json::object(), const std::string& role = "admin") {
    Request r;
    r.correlationId = "corr-1";
    r.method = method;
    r.body = std::move(body);
    r.identity.kind = IdentityKind::Admin;
    r.identity.role = role;
    r.identity.name = role == "admin" ? "alice" : "bob";
    r.identity.spiffeId = role == "admin" ? kAdmin : "spiffe://sealgate-admin/" + role + "/bob";
    r.identity.certThumbprint = "thumb-1";
    return r;
  }
  Request credsReq(const std::string& rest = "db/creds/readonly", const std::string& role = "admin") {
    Request r = req("GET", json::object(), role);
    r.pathParam = rest;
    return r;
  }
  // A lease made through the API, the audit records cleared.
  std::string issue() {
    Request r = credsReq();
    auto out = api.creds(r);
    EXPECT_EQ(statusOf(out), 200) << describe(out);
    audit.events.clear();
    return std::get<Response>(out).body.value("lease_id", "");
  }
  static std::string messageOf(const HandlerResult& r) {
    const auto* e = std::get_if<HttpError>(&r);
    return e ? e->message : "";
  }
  // Nothing in the audit records or the answer carries the password.
  void expectNoCanary(const HandlerResult& r) {
    EXPECT_EQ(describe(r).find(kCanary), std::string::npos) << describe(r);
    for (const auto& e : audit.events) EXPECT_EQ(e.dump().find(kCanary), std::string::npos) << e.dump();
  }

  SoftwareMac mac;
  ResourceRefs refs;
  EmbeddedPolicyDecisionPoint pdp;
  MemoryLeases leases;
  CountingAudit audit;
  LeaseApi api;
  LeaseApi noDb;
};

TEST_F(LeaseApiTest, CredsHandsOutThePasswordAfterAuditingTheRevealAndTheLease) {
  Request r = credsReq();
  auto out = api.creds(r);
  ASSERT_EQ(statusOf(out), 200) << describe(out);
  const json& body = std::get<Response>(out).body;
  ASSERT_EQ(leases.live.size(), 1u);
  const std::string id = leases.live.begin()->first;
  EXPECT_EQ(body["lease_id"], id);
  EXPECT_EQ(body["renewable"], true);
  EXPECT_EQ(body["lease_duration"], 3600);
  EXPECT_EQ(body["data"]["password"], kCanary);  // the one place it goes
  EXPECT_EQ(body["data"]["username"], "v-readonly-1");
  EXPECT_TRUE(body["wrap_info"].is_null());
  EXPECT_EQ(body["request_id"].get<std::string>().size(), 36u);

  ASSERT_EQ(audit.events.size(), 2u);
  const json& reveal = audit.events[0];
  EXPECT_EQ(reveal["type"], "db_creds");
  EXPECT_EQ(reveal["decision"], "allow");
  EXPECT_EQ(reveal["by"], kAdmin);
  EXPECT_EQ(reveal["correlation_id"], "corr-1");
  EXPECT_EQ(reveal["actor"]["cert_thumbprint"], "thumb-1");
  EXPECT_EQ(reveal["actor"]["role"], "admin");
  EXPECT_EQ(reveal["resource_ref"], *refs.ofCanonical("secret://acme/db/readonly"));
  EXPECT_EQ(audit.events[1]["type"], "lease_create");
  EXPECT_EQ(audit.events[1]["lease_id"], id);
  for (const auto& e : audit.events) {
    EXPECT_EQ(e.dump().find(kCanary), std::string::npos);
    EXPECT_EQ(e.dump().find("secret://"), std::string::npos);  // a resource_ref, never the URI
  }
}

TEST_F(LeaseApiTest, CredsNeedTheAdminRoleAndNothingIsAuditedOrCreatedOtherwise) {
  for (const char* role : {"auditor", "approver"}) {
    Request r = credsReq("db/creds/readonly", role);
    auto out = api.creds(r);
    EXPECT_EQ(codeOf(out), "FORBIDDEN") << role;
    EXPECT_EQ(statusOf(out), 403);
  }
  EXPECT_EQ(leases.creates, 0);
  EXPECT_TRUE(audit.events.empty());
}

TEST_F(LeaseApiTest, CredsWithoutThePoliciesRevealAreDeniedAndTheDenialAudited) {
  leases.roles.insert("other");
  Request r = credsReq("db/creds/other");
  auto out = api.creds(r);
  EXPECT_EQ(codeOf(out), "REVEAL_DENIED");
  EXPECT_EQ(statusOf(out), 403);
  EXPECT_EQ(leases.creates, 0);
  ASSERT_EQ(audit.events.size(), 1u);
  EXPECT_EQ(audit.events[0]["type"], "db_creds");
  EXPECT_EQ(audit.events[0]["decision"], "deny");
  EXPECT_FALSE(audit.events[0]["reason"].get<std::string>().empty());
  EXPECT_EQ(audit.events[0]["resource_ref"], *refs.ofCanonical("secret://acme/db/other"));

  // A denial the log cannot record is AUDIT_UNAVAILABLE, still nothing created.
  audit.failFrom = 0;
  Request again = credsReq("db/creds/other");
  EXPECT_EQ(codeOf(api.creds(again)), "AUDIT_UNAVAILABLE");
  EXPECT_EQ(leases.creates, 0);
}

TEST_F(LeaseApiTest, CredsWithoutAnAuditOfTheRevealCreateNothing) {
  audit.failFrom = 0;
  Request r = credsReq();
  auto out = api.creds(r);
  EXPECT_EQ(codeOf(out), "AUDIT_UNAVAILABLE");
  EXPECT_EQ(statusOf(out), 503);
  EXPECT_EQ(messageOf(out), "the audit log cannot record the request; nothing was done");
  EXPECT_EQ(leases.creates, 0);
  EXPECT_TRUE(leases.live.empty());
}

TEST_F(LeaseApiTest, ACredentialWhoseLeaseCannotBeAuditedIsRevokedNotHandedOut) {
  audit.failFrom = 1;  // the reveal is recorded, the lease_create is not
  Request r = credsReq();
  auto out = api.creds(r);
  EXPECT_EQ(codeOf(out), "AUDIT_UNAVAILABLE");
  EXPECT_EQ(leases.creates, 1);
  EXPECT_EQ(leases.revokes, 1);
  EXPECT_TRUE(leases.live.empty());
  expectNoCanary(out);
}

TEST_F(LeaseApiTest, CredsRefuseUnknownMountsBadRolesAndWrapping) {
  Request otherNs = credsReq();
  otherNs.headers["x-vault-namespace"] = "globex";
  EXPECT_EQ(codeOf(api.creds(otherNs)), "NOT_FOUND");
  Request badNs = credsReq();
  badNs.headers["x-vault-namespace"] = "../acme";
  EXPECT_EQ(codeOf(api.creds(badNs)), "NOT_FOUND");
  Request noMount = credsReq("nodb/creds/readonly");
  EXPECT_EQ(codeOf(api.creds(noMount)), "NOT_FOUND");
  Request none = credsReq();
  EXPECT_EQ(codeOf(noDb.creds(none)), "NOT_FOUND");
  Request nested = credsReq("db/creds/a/b");
  EXPECT_EQ(codeOf(api.creds(nested)), "LEASE_INVALID");
  Request wrapped = credsReq();
  wrapped.headers["x-vault-wrap-ttl"] = "60";
  EXPECT_EQ(codeOf(api.creds(wrapped)), "WRAPPING_UNSUPPORTED");
  Request del = credsReq();
  del.method = "DELETE";
  EXPECT_EQ(codeOf(api.creds(del)), "METHOD_NOT_ALLOWED");
  EXPECT_EQ(leases.creates, 0);
  EXPECT_TRUE(audit.events.empty());

  // The namespace header, trailing slash and all, picks the tenant.
  Request slash = credsReq();
  slash.headers["x-vault-namespace"] = "acme/";
  EXPECT_EQ(statusOf(api.creds(slash)), 200);
}

TEST_F(LeaseApiTest, CredsWithoutAResourceRefAreHsmUnavailable) {
  mac.failing = true;
  Request r = credsReq();
  EXPECT_EQ(codeOf(api.creds(r)), "HSM_UNAVAILABLE");
  EXPECT_EQ(leases.creates, 0);
  EXPECT_TRUE(audit.events.empty());
}

TEST_F(LeaseApiTest, BackendFailuresMapToStableCodesWithoutTheirText) {
  struct Case {
    Error failure;
    std::string code;
  };
  const std::string leak = std::string("connect failed, password=") + kCanary;
  for (const auto& c : std::vector<Case>{{makeError(db_errc::kNoRole, leak), "DB_ROLE_NOT_FOUND"},
                                         {makeError(db_errc::kNoLease, leak), "LEASE_NOT_FOUND"},
                                         {makeError(ErrorCode::StateFull, leak), "STATE_FULL"},
                                         {makeError(ErrorCode::StateUnavailable, leak), "STATE_UNAVAILABLE"},
                                         {makeError(ErrorCode::IoError, leak), "PROVIDER_UNAVAILABLE"},
                                         {makeError(ErrorCode::HsmError, leak), "PROVIDER_UNAVAILABLE"}}) {
    leases.createFailure = c.failure;
    Request r = credsReq();
    auto out = api.creds(r);
    EXPECT_EQ(codeOf(out), c.code) << describe(out);
    expectNoCanary(out);
  }
  EXPECT_TRUE(leases.live.empty());

  leases.createFailure.reset();
  const std::string id = issue();
  leases.renewFailure = makeError(ErrorCode::IoError, leak);
  Request renew = req("PUT", json{{"lease_id", id}});
  auto renewed = api.renew(renew, false);
  EXPECT_EQ(codeOf(renewed), "PROVIDER_UNAVAILABLE");
  EXPECT_EQ(statusOf(renewed), 503);
  expectNoCanary(renewed);
  leases.revokeFailure = makeError(ErrorCode::StateTampered, leak);
  Request revoke = req("PUT", json{{"lease_id", id}});
  auto revoked = api.revoke(revoke, false);
  EXPECT_EQ(codeOf(revoked), "STATE_TAMPERED");
  expectNoCanary(revoked);
  leases.prefixFailure = makeError(ErrorCode::IoError, leak);
  Request prefix = req("PUT");
  prefix.pathParam = "acme/db/";
  EXPECT_EQ(codeOf(api.revokePrefix(prefix, true)), "PROVIDER_UNAVAILABLE");
  EXPECT_EQ(leases.live.size(), 1u);
}

TEST_F(LeaseApiTest, RenewAndRevokeNeedTheAdminRoleLookupAndListSuitAuditors) {
  const std::string id = issue();
  for (const char* role : {"auditor", "approver"}) {
    Request renew = req("PUT", json{{"lease_id", id}}, role);
    EXPECT_EQ(codeOf(api.renew(renew, false)), "FORBIDDEN") << role;
    EXPECT_EQ(codeOf(api.renew(renew, true)), "FORBIDDEN") << role;
    Request revoke = req("PUT", json{{"lease_id", id}}, role);
    EXPECT_EQ(codeOf(api.revoke(revoke, false)), "FORBIDDEN") << role;
    EXPECT_EQ(codeOf(api.revoke(revoke, true)), "FORBIDDEN") << role;
    Request prefix = req("PUT", json::object(), role);
    prefix.pathParam = "acme/";
    EXPECT_EQ(codeOf(api.revokePrefix(prefix, false)), "FORBIDDEN") << role;
    EXPECT_EQ(codeOf(api.revokePrefix(prefix, true)), "FORBIDDEN") << role;
  }
  EXPECT_EQ(leases.renews + leases.revokes + leases.prefixRevokes, 0);
  EXPECT_TRUE(audit.events.empty());
  ASSERT_EQ(leases.live.size(), 1u);

  Request lookup = req("PUT", json{{"lease_id", id}}, "auditor");
  auto looked = api.lookup(lookup);
  ASSERT_EQ(statusOf(looked), 200) << describe(looked);
  EXPECT_EQ(std::get<Response>(looked).body["data"]["id"], id);
  Request list = req("GET", json::object(), "auditor");
  auto listed = api.list(list);
  ASSERT_EQ(statusOf(listed), 200);
  EXPECT_EQ(std::get<Response>(listed).body["leases"].size(), 1u);

  Request approverLookup = req("PUT", json{{"lease_id", id}}, "approver");
  EXPECT_EQ(codeOf(api.lookup(approverLookup)), "FORBIDDEN");
  Request approverList = req("GET", json::object(), "approver");
  EXPECT_EQ(codeOf(api.list(approverList)), "FORBIDDEN");
  EXPECT_TRUE(audit.events.empty());  // reads are not audited
}

TEST_F(LeaseApiTest, AuditFailureRenewsAndRevokesNothing) {
  const std::string id = issue();
  const auto expiry = leases.live.at(id).expireTime;
  audit.failFrom = 0;
  for (bool vault : {false, true}) {
    Request renew = req("PUT", json{{"lease_id", id}, {"increment", "2h"}});
    auto renewed = api.renew(renew, vault);
    EXPECT_EQ(codeOf(renewed), "AUDIT_UNAVAILABLE");
    EXPECT_EQ(messageOf(renewed), "the audit log cannot record the request; nothing was done");
    Request revoke = req("PUT", json{{"lease_id", id}});
    EXPECT_EQ(codeOf(api.revoke(revoke, vault)), "AUDIT_UNAVAILABLE");
    Request prefix = req("PUT");
    prefix.pathParam = "acme/db/creds/";
    EXPECT_EQ(codeOf(api.revokePrefix(prefix, vault)), "AUDIT_UNAVAILABLE");
  }
  EXPECT_EQ(leases.renews + leases.revokes + leases.prefixRevokes, 0);
  ASSERT_EQ(leases.live.count(id), 1u);
  EXPECT_EQ(leases.live.at(id).expireTime, expiry);
}

TEST_F(LeaseApiTest, RenewAnswersInTheAdminOrTheVaultShapeAfterAuditing) {
  const std::string id = issue();
  Request admin = req("PUT", json{{"lease_id", id}, {"increment", "2h"}});
  auto out = api.renew(admin, false);
  ASSERT_EQ(statusOf(out), 200) << describe(out);
  const json& body = std::get<Response>(out).body;
  EXPECT_EQ(body["lease"]["id"], id);
  EXPECT_EQ(body["lease"]["renewable"], true);
  EXPECT_GT(body["lease"]["ttl"].get<long>(), 3600);
  EXPECT_FALSE(body.contains("request_id"));
  ASSERT_EQ(audit.events.size(), 1u);
  EXPECT_EQ(audit.events[0]["type"], "lease_renew");
  EXPECT_EQ(audit.events[0]["lease_id"], id);
  EXPECT_EQ(audit.events[0]["increment"], 7200);
  EXPECT_EQ(audit.events[0]["by"], kAdmin);

  Request vault = req("POST", json{{"lease_id", id}, {"increment", 60}});
  auto v = api.renew(vault, true);
  ASSERT_EQ(statusOf(v), 200) << describe(v);
  const json& vb = std::get<Response>(v).body;
  EXPECT_EQ(vb["lease_id"], id);
  EXPECT_EQ(vb["renewable"], true);
  EXPECT_LE(vb["lease_duration"].get<long>(), 60);
  EXPECT_TRUE(vb["data"].is_null());
  EXPECT_FALSE(vb.contains("lease"));
  EXPECT_EQ(audit.events.back()["increment"], 60);
}

TEST_F(LeaseApiTest, RevokeAnswersInTheAdminOrTheVaultShape) {
  const std::string a = issue();
  Request admin = req("PUT", json{{"lease_id", a}});
  auto out = api.revoke(admin, false);
  ASSERT_EQ(statusOf(out), 200) << describe(out);
  EXPECT_EQ(std::get<Response>(out).body, (json{{"lease_id", a}, {"revoked", true}}));
  ASSERT_EQ(audit.events.size(), 1u);
  EXPECT_EQ(audit.events[0]["type"], "lease_revoke");
  EXPECT_EQ(audit.events[0]["lease_id"], a);
  EXPECT_TRUE(leases.live.empty());

  // An unknown lease: the admin shape says so, Vault answers 204; neither audits.
  audit.events.clear();
  Request again = req("PUT", json{{"lease_id", a}});
  EXPECT_EQ(codeOf(api.revoke(again, false)), "LEASE_NOT_FOUND");
  EXPECT_EQ(statusOf(api.revoke(again, true)), 204);
  EXPECT_TRUE(audit.events.empty());

  const std::string b = issue();
  Request vault = req("PUT", json{{"lease_id", b}, {"sync", true}});
  EXPECT_EQ(statusOf(api.revoke(vault, true)), 204);
  EXPECT_TRUE(leases.live.empty());
  EXPECT_EQ(audit.events.size(), 1u);
}

TEST_F(LeaseApiTest, RevokePrefixCountsInTheAdminShapeAndIsAuditedEvenWithoutABackend) {
  issue();
  issue();
  Request admin = req("PUT");
  admin.pathParam = "acme/db/creds/readonly/";
  auto out = api.revokePrefix(admin, false);
  ASSERT_EQ(statusOf(out), 200) << describe(out);
  EXPECT_EQ(std::get<Response>(out).body, (json{{"prefix", "acme/db/creds/readonly/"}, {"revoked", 2}}));
  ASSERT_EQ(audit.events.size(), 1u);
  EXPECT_EQ(audit.events[0]["type"], "lease_revoke_prefix");
  EXPECT_EQ(audit.events[0]["prefix"], "acme/db/creds/readonly/");
  EXPECT_TRUE(leases.live.empty());

  Request vault = req("PUT");
  vault.pathParam = "acme/";
  EXPECT_EQ(statusOf(noDb.revokePrefix(vault, true)), 204);
  auto none = noDb.revokePrefix(vault, false);
  ASSERT_EQ(statusOf(none), 200);
  EXPECT_EQ(std::get<Response>(none).body["revoked"], 0);
}

TEST_F(LeaseApiTest, LookupAnswersInVaultsShapeWithoutThePassword) {
  const std::string id = issue();
  Request r = req("PUT", json{{"lease_id", id}});
  auto out = api.lookup(r);
  ASSERT_EQ(statusOf(out), 200) << describe(out);
  const json& body = std::get<Response>(out).body;
  EXPECT_EQ(body["lease_id"], "");
  EXPECT_EQ(body["renewable"], false);
  EXPECT_EQ(body["data"]["id"], id);
  EXPECT_GE(body["data"]["ttl"].get<long>(), 3590);
  EXPECT_LE(body["data"]["ttl"].get<long>(), 3600);
  EXPECT_FALSE(body["data"]["issue_time"].get<std::string>().empty());
  expectNoCanary(out);

  Request list = req("GET");
  auto listed = api.list(list);
  ASSERT_EQ(statusOf(listed), 200);
  const json& entry = std::get<Response>(listed).body["leases"][0];
  EXPECT_EQ(entry["id"], id);
  EXPECT_EQ(entry["tenant"], "acme");
  EXPECT_EQ(entry["mount"], "db");
  EXPECT_EQ(entry["role"], "readonly");
  EXPECT_EQ(entry["username"], "v-readonly-1");
  expectNoCanary(listed);

  Request empty = req("GET");
  EXPECT_EQ(std::get<Response>(noDb.list(empty)).body, (json{{"leases", json::array()}, {"total", 0}}));
  Request unknown = req("PUT", json{{"lease_id", id}});
  EXPECT_EQ(codeOf(noDb.lookup(unknown)), "LEASE_NOT_FOUND");
}

TEST_F(LeaseApiTest, MalformedInputIsRefusedClearlyAndChangesNothing) {
  const std::string id = issue();
  const auto before = leases.live.at(id).expireTime;
  struct Case {
    json body;
    std::string code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {json::object(), "LEASE_INVALID", "lease_id is required"},
      {json{{"lease_id", 42}}, "LEASE_INVALID", "lease_id is required"},
      {json{{"lease_id", nullptr}}, "LEASE_INVALID", "lease_id is required"},
      {json{{"lease_id", "../etc/passwd"}}, "LEASE_INVALID", "lease_id is not valid"},
      {json{{"lease_id", "/acme/db"}}, "LEASE_INVALID", "lease_id is not valid"},
      {json{{"lease_id", "ACME/DB"}}, "LEASE_INVALID", "lease_id is not valid"},
      {json{{"lease_id", id}, {"extra", 1}}, "UNKNOWN_FIELD", "unknown field in the request body"},
  };
  for (const auto& c : cases) {
    for (bool vault : {false, true}) {
      Request renew = req("PUT", c.body);
      auto r = api.renew(renew, vault);
      EXPECT_EQ(codeOf(r), c.code) << c.body.dump();
      EXPECT_EQ(messageOf(r), c.message) << c.body.dump();
      Request revoke = req("PUT", c.body);
      auto v = api.revoke(revoke, vault);
      EXPECT_EQ(codeOf(v), c.code) << c.body.dump();
      EXPECT_EQ(messageOf(v), c.message) << c.body.dump();
    }
    Request lookup = req("PUT", c.body);
    EXPECT_EQ(codeOf(api.lookup(lookup)), c.code) << c.body.dump();
  }
  for (const json& increment : {json("soon"), json(-5), json::array(), json(true)}) {
    Request renew = req("PUT", json{{"lease_id", id}, {"increment", increment}});
    auto r = api.renew(renew, false);
    EXPECT_EQ(codeOf(r), "LEASE_INVALID") << increment.dump();
    EXPECT_EQ(messageOf(r), "increment must be a duration (\"1h\" or seconds)");
  }
  for (const char* prefix : {"", "/acme", "acme//db", "Acme"}) {
    Request r = req("PUT");
    r.pathParam = prefix;
    EXPECT_EQ(codeOf(api.revokePrefix(r, false)), "LEASE_INVALID") << prefix;
  }
  Request unknown = req("PUT", json{{"lease_id", "acme/db/creds/readonly/000000000000000000000099"}});
  EXPECT_EQ(codeOf(api.renew(unknown, false)), "LEASE_NOT_FOUND");

  EXPECT_EQ(leases.renews + leases.revokes + leases.prefixRevokes, 0);
  ASSERT_EQ(leases.live.size(), 1u);
  EXPECT_EQ(leases.live.at(id).expireTime, before);
  EXPECT_TRUE(audit.events.empty());
}

TEST_F(LeaseApiTest, OnlyCredsPathsAreCredsPaths) {
  EXPECT_TRUE(LeaseApi::isCredsPath("db/creds/readonly"));
  EXPECT_FALSE(LeaseApi::isCredsPath("kv/data/creds/x"));
  EXPECT_FALSE(LeaseApi::isCredsPath("db"));
  EXPECT_FALSE(LeaseApi::isCredsPath("db/credsx/readonly"));
}

}  // namespace
}  // namespace sealgate::appliance
