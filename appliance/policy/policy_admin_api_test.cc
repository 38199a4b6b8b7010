// The policy admin endpoints (policy_admin_api.h): who may read, test and
// replace the policy; a replacement that is invalid, cannot be audited or cannot
// be saved leaves the policy, the file and the decision caches as they were.
// The e2e suite runs them on the daemon (tests/e2e/test_daemon.py).
#include "appliance/policy/policy_admin_api.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace sealgate::appliance {
namespace {

using nlohmann::json;

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

constexpr const char* kOld = R"({"version": 1, "rules": []})";

json newPolicy() {
  return json::parse(R"({"version": 1, "rules": [{"id": "r1", "effect": "allow",
      "subjects": ["spiffe://acme/payments"], "resources": ["secret://acme/kv/app/*"], "actions": ["use"]}]})");
}

std::string codeOf(const HandlerResult& r) {
  const auto* e = std::get_if<HttpError>(&r);
  return e ? std::string(errorCodeName(e->code)) : "200";
}

class PolicyAdminApiTest : public ::testing::Test {
 protected:
  PolicyAdminApiTest() : pdp(std::make_shared<const Policy>(*Policy::parse(kOld))) {
    char tmpl[] = "/tmp/sealgate-policy-admin-XXXXXX";
    dir = ::mkdtemp(tmpl);
    file = dir + "/policy.json";
    std::ofstream(file) << kOld;
  }
  ~PolicyAdminApiTest() override { std::filesystem::remove_all(dir); }

  PolicyAdminApi api(const std::string& path) {
    return PolicyAdminApi(path, pdp, audit, [this] { ++flushes; });
  }
  static Request req(json body, const std::string& role = "admin") {
    Request r;
    r.correlationId = "c-1";
    r.body = std::move(body);
    r.identity.kind = IdentityKind::Admin;
    r.identity.role = role;
    r.identity.spiffeId = "spiffe://sealgate-admin/" + role + "/alice";
    r.identity.certThumbprint = "x5t";
    return r;
  }
  std::string fileText() const {
    std::ifstream in(file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // The policy, its file and the caches are as before.
  void expectUnchanged() {
    EXPECT_EQ(pdp.current()->source(), kOld);
    EXPECT_EQ(fileText(), kOld);
    EXPECT_EQ(flushes, 0);
  }

  std::string dir, file;
  EmbeddedPolicyDecisionPoint pdp;
  Audit audit;
  int flushes = 0;
};

TEST_F(PolicyAdminApiTest, AnAdminReplacesThePolicyAuditedSavedAndCachesFlushed) {
  auto a = api(file);
  Request r = req(newPolicy());
  auto out = a.putPolicy(r);
  ASSERT_EQ(codeOf(out), "200");
  EXPECT_EQ(std::get<Response>(out).body["rules"], 1);
  EXPECT_EQ(pdp.current()->rules().size(), 1u);
  EXPECT_EQ(json::parse(fileText()), newPolicy());
  EXPECT_EQ(flushes, 1);
  ASSERT_EQ(audit.events.size(), 1u);
  const json& e = audit.events[0];
  EXPECT_EQ(e["type"], "policy_update");
  EXPECT_EQ(e["outcome"], "updated");
  EXPECT_EQ(e["rules"], 1);
  EXPECT_EQ(e["sha256"], std::get<Response>(out).body["sha256"]);
  EXPECT_EQ(e["actor"]["role"], "admin");
  EXPECT_EQ(e["correlation_id"], "c-1");
}

TEST_F(PolicyAdminApiTest, OnlyAnAdminReplacesThePolicy) {
  auto a = api(file);
  for (const char* role : {"auditor", "approver", ""}) {
    Request r = req(newPolicy(), role);
    EXPECT_EQ(codeOf(a.putPolicy(r)), "FORBIDDEN") << role;
  }
  expectUnchanged();
  EXPECT_TRUE(audit.events.empty());
}

TEST_F(PolicyAdminApiTest, AnInvalidPolicyIsRefusedAndChangesNothing) {
  auto a = api(file);
  for (const json& body :
       {json::object(), json{{"version", 2}, {"rules", json::array()}}, json{{"version", 1}, {"rules", "all"}},
        json::parse(R"({"version":1,"rules":[{"id":1}]})")}) {
    Request r = req(body);
    EXPECT_EQ(codeOf(a.putPolicy(r)), "POLICY_INVALID") << body.dump();
  }
  expectUnchanged();
  EXPECT_TRUE(audit.events.empty());
}

TEST_F(PolicyAdminApiTest, AReplacementTheLogCannotRecordChangesNothing) {
  auto a = api(file);
  audit.failing = true;
  Request r = req(newPolicy());
  auto out = a.putPolicy(r);
  ASSERT_EQ(codeOf(out), "AUDIT_UNAVAILABLE");
  EXPECT_EQ(std::get<HttpError>(out).status, 503);
  EXPECT_EQ(std::get<HttpError>(out).message, "the audit log cannot record the change; the policy is unchanged");
  expectUnchanged();
}

TEST_F(PolicyAdminApiTest, AReplacementThatCannotBeSavedIsNotSwappedIn) {
  auto a = api(dir + "/missing/policy.json");
  Request r = req(newPolicy());
  auto out = a.putPolicy(r);
  EXPECT_EQ(codeOf(out), "POLICY_PERSIST_FAILED");
  expectUnchanged();
  EXPECT_EQ(audit.events.size(), 1u);  // audited first, as the attempt
}

TEST_F(PolicyAdminApiTest, ReadingAndTestingSuitAdminsAndAuditorsOnly) {
  auto a = api(file);
  const json ask = {{"subject", "spiffe://acme/payments"}, {"uri", "secret://acme/kv/app/db"}, {"action", "use"}};
  for (const char* role : {"admin", "auditor"}) {
    Request get = req(json::object(), role);
    auto doc = a.getPolicy(get);
    ASSERT_EQ(codeOf(doc), "200") << role;
    EXPECT_EQ(std::get<Response>(doc).body, json::parse(kOld));
    Request test = req(ask, role);
    auto out = a.testPolicy(test);
    ASSERT_EQ(codeOf(out), "200") << role;
    EXPECT_EQ(std::get<Response>(out).body["decision"], "deny");
  }
  Request get = req(json::object(), "approver");
  EXPECT_EQ(codeOf(a.getPolicy(get)), "FORBIDDEN");
  Request test = req(ask, "approver");
  EXPECT_EQ(codeOf(a.testPolicy(test)), "FORBIDDEN");
  EXPECT_TRUE(audit.events.empty());  // a dry run is not audited
}

TEST_F(PolicyAdminApiTest, ABadTestBodyIsRefusedClearly) {
  auto a = api(file);
  struct Case {
    json body;
    std::string code;
  };
  for (const auto& c : std::vector<Case>{
           {json{{"uri", "secret://acme/kv/a"}, {"action", "use"}}, "INVALID_REQUEST"},
           {json{{"subject", "spiffe://acme/p"}, {"uri", "secret://acme/kv/a"}, {"action", "use"}, {"x", 1}},
            "UNKNOWN_FIELD"},
           {json{{"subject", 7}, {"uri", "secret://acme/kv/a"}, {"action", "use"}}, "INVALID_REQUEST"},
           {json{{"subject", "spiffe://acme/p"}, {"uri", "secret://acme/kv/a"}, {"action", "use"}, {"context", "x"}},
            "INVALID_REQUEST"},
           {json{{"subject", "spiffe://sealgate-admin/admin/a"}, {"uri", "secret://acme/kv/a"}, {"action", "use"}},
            "INVALID_REQUEST"},
       }) {
    Request r = req(c.body);
    EXPECT_EQ(codeOf(a.testPolicy(r)), c.code) << c.body.dump();
  }
  Request badUri = req(json{{"subject", "spiffe://acme/p"}, {"uri", "http://x"}, {"action", "use"}});
  EXPECT_EQ(codeOf(a.testPolicy(badUri)).rfind("URI_", 0), 0u);
  expectUnchanged();
}

}  // namespace
}  // namespace sealgate::appliance
