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
  static json bodyOf(const HandlerResult& r) { return std::get<Response>(r).body; }
  static json history(PolicyAdminApi& a, const std::string& query = "", const std::string& role = "admin") {
    Request r = req(json::object(), role);
    r.query = query;
    auto out = a.listHistory(r);
    return codeOf(out) == "200" ? bodyOf(out) : json(codeOf(out));
  }
  static std::vector<std::uint64_t> versionsOf(PolicyAdminApi& a, const std::string& query = "limit=100") {
    std::vector<std::uint64_t> out;
    const json page = history(a, query);
    for (const auto& v : page["versions"]) out.push_back(v["version"]);
    return out;
  }
  static HandlerResult version(PolicyAdminApi& a, const std::string& id, const std::string& role = "admin") {
    Request r = req(json::object(), role);
    r.pathParam = id;
    return a.getHistoryVersion(r);
  }
  static json validate(PolicyAdminApi& a, const std::string& text, const std::string& role = "admin") {
    Request r = req(json{{"text", text}}, role);
    auto out = a.validatePolicy(r);
    return codeOf(out) == "200" ? bodyOf(out) : json(codeOf(out));
  }
  static std::string put(PolicyAdminApi& a, const json& policy, const std::string& query = "") {
    Request r = req(policy);
    r.query = query;
    return codeOf(a.putPolicy(r));
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

TEST_F(PolicyAdminApiTest, AReloadReadsTheFileAgainAuditedAndRecorded) {
  auto a = api(file);
  std::ofstream(file) << newPolicy().dump();
  ASSERT_TRUE(a.reloadFromFile());
  EXPECT_EQ(pdp.current()->rules().size(), 1u);
  EXPECT_EQ(flushes, 1);
  ASSERT_EQ(audit.events.size(), 1u);
  EXPECT_EQ(audit.events[0]["type"], "policy_reload");
  EXPECT_EQ(audit.events[0]["signal"], "SIGHUP");
  EXPECT_EQ(audit.events[0]["actor"]["spiffe_id"], "sealgated");
  const json newest = history(a, "limit=1")["versions"][0];
  EXPECT_EQ(newest["by"], "SIGHUP");
  EXPECT_EQ(newest["sha256"], audit.events[0]["sha256"]);
  // The same file again: audited, no new version.
  const auto versions = versionsOf(a);
  ASSERT_TRUE(a.reloadFromFile());
  EXPECT_EQ(versionsOf(a), versions);
  EXPECT_EQ(audit.events.size(), 2u);
}

TEST_F(PolicyAdminApiTest, AReloadOfABrokenFileOrThatTheLogCannotRecordChangesNothing) {
  auto a = api(file);
  std::ofstream(file) << R"({"version": 1, "rules": [)";
  auto broken = a.reloadFromFile();
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, ErrorCode::PolicyInvalid);
  EXPECT_EQ(pdp.current()->source(), kOld);
  EXPECT_EQ(flushes, 0);
  EXPECT_TRUE(audit.events.empty());
  std::ofstream(file) << newPolicy().dump();
  audit.failing = true;
  auto unaudited = a.reloadFromFile();
  ASSERT_FALSE(unaudited);
  EXPECT_EQ(unaudited.error().code, ErrorCode::AuditUnavailable);
  EXPECT_EQ(pdp.current()->source(), kOld);
  EXPECT_EQ(flushes, 0);
  auto inMemory = api("");  // no policy_file: nothing to read
  EXPECT_EQ(inMemory.reloadFromFile().error().code, ErrorCode::PolicyInvalid);
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
  // Its folder is missing: the history cannot hold the policy in place either,
  // so the PUT stops before anything, audit event included.
  auto a = api(dir + "/missing/policy.json");
  Request r = req(newPolicy());
  auto out = a.putPolicy(r);
  EXPECT_EQ(codeOf(out), "POLICY_PERSIST_FAILED");
  expectUnchanged();
  EXPECT_TRUE(audit.events.empty());
}

TEST_F(PolicyAdminApiTest, APolicyFileThatCannotBeWrittenTakesItsHistoryEntryBack) {
  const std::string path = dir + "/as-dir";  // a non-empty folder: the rename over it fails
  std::filesystem::create_directories(path + "/x");
  auto a = api(path);
  Request r = req(newPolicy());
  r.query = "reason=first";
  EXPECT_EQ(codeOf(a.putPolicy(r)), "POLICY_PERSIST_FAILED");
  expectUnchanged();
  EXPECT_EQ(audit.events.size(), 1u);  // audited first, as the attempt
  EXPECT_EQ(versionsOf(a), std::vector<std::uint64_t>{1});
  EXPECT_FALSE(std::filesystem::exists(path + ".history/000002.json"));
  std::filesystem::remove_all(path);  // now it can be written: the next version is 2 again
  Request again = req(newPolicy());
  ASSERT_EQ(codeOf(a.putPolicy(again)), "200");
  EXPECT_EQ(versionsOf(a), (std::vector<std::uint64_t>{2, 1}));
}

TEST_F(PolicyAdminApiTest, AHistoryEntryThatCannotBeWrittenFailsThePutBeforeTheSwap) {
  auto a = api(file);
  std::filesystem::remove_all(file + ".history");
  std::ofstream(file + ".history") << "not a folder";
  Request r = req(newPolicy());
  auto out = a.putPolicy(r);
  ASSERT_EQ(codeOf(out), "POLICY_PERSIST_FAILED");
  EXPECT_EQ(std::get<HttpError>(out).message, "the policy history entry could not be saved; the policy is unchanged");
  expectUnchanged();
  EXPECT_EQ(audit.events.size(), 1u);  // audit first: the attempt is recorded
}

TEST_F(PolicyAdminApiTest, WithoutAHistoryFolderAtStartNoPolicyIsSwappedIn) {
  std::ofstream(file + ".history") << "not a folder";
  auto a = api(file);  // the policy in place cannot be recorded
  Request r = req(newPolicy());
  EXPECT_EQ(codeOf(a.putPolicy(r)), "POLICY_PERSIST_FAILED");
  expectUnchanged();
  EXPECT_TRUE(audit.events.empty());
  std::filesystem::remove(file + ".history");  // repaired: the next PUT records both
  Request again = req(newPolicy());
  ASSERT_EQ(codeOf(a.putPolicy(again)), "200");
  EXPECT_EQ(versionsOf(a), (std::vector<std::uint64_t>{2, 1}));
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

json policyWithRule(const std::string& id) {
  json p = newPolicy();
  p["rules"][0]["id"] = id;
  return p;
}

TEST_F(PolicyAdminApiTest, TheHistoryStartsWithThePolicyInPlaceAndListsNewestFirst) {
  auto a = api(file);
  json h = history(a);
  ASSERT_EQ(h["versions"].size(), 1u);
  const json& first = h["versions"][0];
  EXPECT_EQ(first["version"], 1);
  EXPECT_EQ(first["by"], "startup");
  EXPECT_EQ(first["reason"], "");
  EXPECT_EQ(first["rules"], 0);
  EXPECT_EQ(first["sha256"], validate(a, kOld)["sha256"]);
  EXPECT_FALSE(h.contains("next_before"));

  ASSERT_EQ(put(a, policyWithRule("a"), "reason=rotated+the+key%2C+ticket+T-7"), "200");
  Request r = req(policyWithRule("b"));
  auto out = a.putPolicy(r);
  ASSERT_EQ(codeOf(out), "200");
  EXPECT_EQ(bodyOf(out)["version"], 3);
  h = history(a);
  ASSERT_EQ(h["versions"].size(), 3u);
  EXPECT_EQ(versionsOf(a), (std::vector<std::uint64_t>{3, 2, 1}));
  const json& newest = h["versions"][0];
  EXPECT_EQ(newest["sha256"], bodyOf(out)["sha256"]);
  EXPECT_EQ(newest["by"], "spiffe://sealgate-admin/admin/alice");
  EXPECT_EQ(newest["reason"], "");
  EXPECT_EQ(newest["rules"], 1);
  EXPECT_EQ(h["versions"][1]["reason"], "rotated the key, ticket T-7");
  const std::string at = newest["at"];
  EXPECT_EQ(at.size(), 20u) << at;  // 2026-01-02T03:04:05Z
  EXPECT_EQ(at.back(), 'Z');
  EXPECT_FALSE(newest.contains("policy"));  // listings carry no documents
}

TEST_F(PolicyAdminApiTest, TheHistoryPagesWithLimitAndBefore) {
  auto a = api(file);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(put(a, policyWithRule("r" + std::to_string(i))), "200");
  json page = history(a, "limit=2");
  EXPECT_EQ(versionsOf(a, "limit=2"), (std::vector<std::uint64_t>{5, 4}));
  EXPECT_EQ(page["next_before"], 4);
  page = history(a, "limit=2&before=4");
  EXPECT_EQ(versionsOf(a, "limit=2&before=4"), (std::vector<std::uint64_t>{3, 2}));
  EXPECT_EQ(page["next_before"], 2);
  page = history(a, "before=2&limit=2");
  EXPECT_EQ(versionsOf(a, "before=2&limit=2"), std::vector<std::uint64_t>{1});
  EXPECT_FALSE(page.contains("next_before"));
  EXPECT_TRUE(history(a, "before=1")["versions"].empty());
  EXPECT_EQ(versionsOf(a, "before=99"), (std::vector<std::uint64_t>{5, 4, 3, 2, 1}));
  EXPECT_EQ(versionsOf(a, "limit=100").size(), 5u);
  for (const char* bad :
       {"limit=0", "limit=101", "limit=", "limit=abc", "limit=-1", "limit=+2", "limit=02", "limit=2.0", "limit=%zz",
        "before=0", "before=", "before=x", "before=18446744073709551616", "limit=1&before=-3"}) {
    EXPECT_EQ(history(a, bad), "INVALID_REQUEST") << bad;
  }
}

TEST_F(PolicyAdminApiTest, TheDefaultPageIsTwentyVersions) {
  auto a = api("");  // in memory
  for (int i = 0; i < 24; ++i) ASSERT_EQ(put(a, policyWithRule("r" + std::to_string(i))), "200");
  json h = history(a);
  ASSERT_EQ(h["versions"].size(), 20u);
  EXPECT_EQ(h["versions"][0]["version"], 25);
  EXPECT_EQ(h["next_before"], 6);
}

TEST_F(PolicyAdminApiTest, OneVersionComesWithItsDocument) {
  auto a = api(file);
  ASSERT_EQ(put(a, newPolicy(), "reason=go"), "200");
  auto out = version(a, "2");
  ASSERT_EQ(codeOf(out), "200");
  EXPECT_EQ(bodyOf(out)["policy"], newPolicy());
  EXPECT_EQ(bodyOf(out)["reason"], "go");
  EXPECT_EQ(bodyOf(out)["version"], 2);
  EXPECT_EQ(bodyOf(version(a, "1"))["policy"], json::parse(kOld));
  for (const char* absent : {"3", "0", "02", "2.0", "-2", "abc", "", "99999999999999999999"}) {
    EXPECT_EQ(codeOf(version(a, absent)), "NOT_FOUND") << absent;
  }
}

TEST_F(PolicyAdminApiTest, TheHistoryOutlivesTheApiAndNotesAPolicyChangedBehindIt) {
  {
    auto a = api(file);
    ASSERT_EQ(put(a, newPolicy(), "reason=one"), "200");
  }
  // The daemon starts again with the policy file the PUT wrote: no new version.
  pdp.replace(std::make_shared<const Policy>(*Policy::load(file)));
  {
    auto b = api(file);
    EXPECT_EQ(versionsOf(b), (std::vector<std::uint64_t>{2, 1}));
    auto v2 = version(b, "2");
    ASSERT_EQ(codeOf(v2), "200");
    EXPECT_EQ(bodyOf(v2)["policy"], newPolicy());
    EXPECT_EQ(bodyOf(v2)["reason"], "one");
    ASSERT_EQ(put(b, policyWithRule("three")), "200");
    EXPECT_EQ(versionsOf(b), (std::vector<std::uint64_t>{3, 2, 1}));
  }
  // Edited by hand while it was stopped: the policy it starts with is a new version.
  pdp.replace(std::make_shared<const Policy>(*Policy::parse(kOld)));
  auto c = api(file);
  json h = history(c);
  EXPECT_EQ(versionsOf(c), (std::vector<std::uint64_t>{4, 3, 2, 1}));
  EXPECT_EQ(h["versions"][0]["by"], "startup");
  EXPECT_EQ(h["versions"][0]["sha256"], h["versions"][3]["sha256"]);
}

TEST_F(PolicyAdminApiTest, AnEntryThatDoesNotReadBackIsLeftOutAndItsNumberNotReused) {
  {
    auto a = api(file);
    ASSERT_EQ(put(a, newPolicy()), "200");
  }
  std::ofstream(file + ".history/000002.json") << "{\"version\": 2, \"broken";
  pdp.replace(std::make_shared<const Policy>(*Policy::load(file)));
  auto b = api(file);  // the newest readable entry is 1: the policy in place is recorded again
  EXPECT_EQ(versionsOf(b), (std::vector<std::uint64_t>{3, 1}));
  EXPECT_EQ(codeOf(version(b, "2")), "NOT_FOUND");
}

TEST_F(PolicyAdminApiTest, TheHistoryKeepsTheNewestTwoHundredVersions) {
  auto a = api(file);
  for (int i = 0; i < 201; ++i) ASSERT_EQ(put(a, policyWithRule("r" + std::to_string(i))), "200") << i;
  std::vector<std::uint64_t> all;
  for (std::string q = "limit=100";;) {
    json page = history(a, q);
    for (const auto& v : page["versions"]) all.push_back(v["version"]);
    if (!page.contains("next_before")) break;
    q = "limit=100&before=" + std::to_string(page["next_before"].get<std::uint64_t>());
  }
  ASSERT_EQ(all.size(), PolicyHistory::kMaxVersions);
  EXPECT_EQ(all.front(), 202u);
  EXPECT_EQ(all.back(), 3u);
  EXPECT_EQ(codeOf(version(a, "2")), "NOT_FOUND");
  std::size_t files = 0;
  for (const auto& f : std::filesystem::directory_iterator(file + ".history")) files += f.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, PolicyHistory::kMaxVersions);
  EXPECT_FALSE(std::filesystem::exists(file + ".history/000002.json"));
}

TEST_F(PolicyAdminApiTest, WithoutAPolicyFileTheHistoryIsKeptInMemory) {
  auto a = api("");
  ASSERT_EQ(put(a, newPolicy(), "reason=mem"), "200");
  EXPECT_EQ(versionsOf(a), (std::vector<std::uint64_t>{2, 1}));
  EXPECT_EQ(bodyOf(version(a, "2"))["policy"], newPolicy());
  EXPECT_EQ(bodyOf(version(a, "1"))["policy"], json::parse(kOld));
}

TEST_F(PolicyAdminApiTest, TheReasonIsAuditedAndBoundedAndAbsentWhenNotGiven) {
  auto a = api(file);
  ASSERT_EQ(put(a, newPolicy(), "reason=quarterly+review"), "200");
  ASSERT_EQ(audit.events.size(), 1u);
  EXPECT_EQ(audit.events[0]["reason"], "quarterly review");
  ASSERT_EQ(put(a, policyWithRule("x")), "200");
  EXPECT_FALSE(audit.events[1].contains("reason"));
  const std::size_t before = audit.events.size();
  EXPECT_EQ(put(a, policyWithRule("y"), "reason=" + std::string(501, 'a')), "INVALID_REQUEST");
  EXPECT_EQ(put(a, policyWithRule("y"), "reason=%0aforged"), "INVALID_REQUEST");
  EXPECT_EQ(put(a, policyWithRule("y"), "reason=%g0"), "INVALID_REQUEST");
  EXPECT_EQ(audit.events.size(), before);
  EXPECT_EQ(versionsOf(a).size(), 3u);
  EXPECT_EQ(put(a, policyWithRule("y"), "reason=" + std::string(500, 'a')), "200");
}

TEST_F(PolicyAdminApiTest, AuditorsReadAndValidateButDoNotPutApproversNeither) {
  auto a = api(file);
  for (const char* role : {"admin", "auditor"}) {
    EXPECT_EQ(history(a, "", role)["versions"].size(), 1u) << role;
    EXPECT_EQ(codeOf(version(a, "1", role)), "200") << role;
    EXPECT_EQ(validate(a, kOld, role)["valid"], true) << role;
  }
  for (const char* role : {"approver", ""}) {
    EXPECT_EQ(history(a, "", role), "FORBIDDEN") << role;
    EXPECT_EQ(codeOf(version(a, "1", role)), "FORBIDDEN") << role;
    EXPECT_EQ(validate(a, kOld, role), "FORBIDDEN") << role;
  }
  for (const char* role : {"auditor", "approver"}) {
    Request r = req(newPolicy(), role);
    r.query = "reason=x";
    EXPECT_EQ(codeOf(a.putPolicy(r)), "FORBIDDEN") << role;
  }
  EXPECT_EQ(versionsOf(a).size(), 1u);
  EXPECT_TRUE(audit.events.empty());
  expectUnchanged();
}

TEST_F(PolicyAdminApiTest, AValidTextGivesTheShaThePutWillHave) {
  auto a = api(file);
  const std::string text = newPolicy().dump(4);
  json v = validate(a, text);
  EXPECT_EQ(v, (json{{"valid", true}, {"rules", 1}, {"sha256", v["sha256"]}}));
  Request r = req(json::parse(text));
  auto out = a.putPolicy(r);
  ASSERT_EQ(codeOf(out), "200");
  EXPECT_EQ(bodyOf(out)["sha256"], v["sha256"]);
  EXPECT_EQ(audit.events.size(), 1u);  // the PUT's only: validation is not audited
}

TEST_F(PolicyAdminApiTest, ASyntaxErrorIsPlacedWhereParsingFailed) {
  auto a = api(file);
  const std::string text =
      "{\n"
      "  \"version\": 1,\n"
      "  \"rules\": [\n"
      "    {\"id\": \"a\" \"effect\": \"allow\"}\n"  // line 4: no comma; "effect" at column 16
      "  ]\n"
      "}\n";
  json v = validate(a, text);
  ASSERT_EQ(v["valid"], false) << v.dump();
  ASSERT_EQ(v["errors"].size(), 1u);
  const json& e = v["errors"][0];
  EXPECT_EQ(e["code"], "BAD_JSON");
  EXPECT_EQ(e["line"], 4);
  EXPECT_EQ(e["column"], 16);
  EXPECT_FALSE(e["message"].get<std::string>().empty());

  json end = validate(a, "{\n  \"version\": 1,\n  \"rules\": [\n");  // cut short
  EXPECT_EQ(end["errors"][0]["code"], "BAD_JSON");
  EXPECT_EQ(end["errors"][0]["line"], 4);
  EXPECT_EQ(end["errors"][0]["column"], 1);
  // As PUT would take it: a request body has no comments.
  json comment = validate(a, "{\n  // a note\n  \"version\": 1, \"rules\": []}");
  EXPECT_EQ(comment["errors"][0]["code"], "BAD_JSON");
  EXPECT_EQ(comment["errors"][0]["line"], 2);
  // Columns count characters, not bytes.
  json wide = validate(a, "{\"r\u00e9gle\": 1 2}");
  EXPECT_EQ(wide["errors"][0]["column"], 13);  // the "2": \u00e9 is one character of two bytes
}

TEST_F(PolicyAdminApiTest, ARepeatedKeyIsPlacedAtItsSecondSpelling) {
  auto a = api(file);
  json v = validate(
      a, "{\"version\": 1,\n \"rules\": [{\"id\": \"a\",\n  \"effect\": \"allow\",\n  \"\\u0065ffect\": \"deny\"}]}");
  ASSERT_EQ(v["valid"], false);
  EXPECT_EQ(v["errors"][0]["code"], "JSON_DUPLICATE_KEY");
  EXPECT_EQ(v["errors"][0]["line"], 4);
  EXPECT_EQ(v["errors"][0]["column"], 3);
  std::string deep = "{\"version\": 1, \"rules\": [],\n\"x\": ";
  for (int i = 0; i < 40; ++i) deep += "[";
  json d = validate(a, deep + std::string(40, ']') + "}");
  EXPECT_EQ(d["errors"][0]["code"], "JSON_TOO_DEEP");
  EXPECT_EQ(d["errors"][0]["line"], 2);
  EXPECT_EQ(d["errors"][0]["column"], 6 + 31);  // the 33rd array/object
}

TEST_F(PolicyAdminApiTest, ASemanticErrorIsPlacedOnTheLineOfTheElementItNames) {
  auto a = api(file);
  const std::string text = R"({
  "version": 1,
  "rules": [
    {"id": "ok", "effect": "allow", "subjects": ["spiffe://acme/a"],
     "resources": ["secret://acme/kv/a"], "actions": ["use"]},
    {
      "id": "bad",
      "effect": "allow",
      "subjects": ["spiffe://acme/b"],
      "resources": [
        "secret://acme/kv/b",
        "secret://acme/kv/app*"
      ],
      "actions": ["use"]
    }
  ]
})";
  json v = validate(a, text);
  ASSERT_EQ(v["valid"], false) << v.dump();
  const json& e = v["errors"][0];
  EXPECT_EQ(e["code"], "POLICY_INVALID");
  EXPECT_EQ(e["line"], 12);
  EXPECT_EQ(e["column"], 9);
  EXPECT_EQ(e["message"], "policy.rules[1].resources: * and ** must be whole segments");  // as before

  // An unknown key: its own line; a missing key: the rule's.
  json unknown = validate(a, "{\"version\": 1, \"rules\": [\n{\"id\": \"a\",\n \"efect\": \"allow\"}]}");
  EXPECT_EQ(unknown["errors"][0]["line"], 3);
  EXPECT_EQ(unknown["errors"][0]["column"], 2);
  EXPECT_EQ(unknown["errors"][0]["message"], "unknown key policy.rules[0].efect");
  json missing = validate(a, "{\"version\": 1,\n\"rules\": [\n\n  {\"effect\": \"allow\"}]}");
  EXPECT_EQ(missing["errors"][0]["message"], "policy.rules[0].id is required");
  EXPECT_EQ(missing["errors"][0]["line"], 4);
  EXPECT_EQ(missing["errors"][0]["column"], 3);
  json version = validate(a, "{\"rules\": [],\n \"version\": 2}");
  EXPECT_EQ(version["errors"][0]["line"], 2);
  json notObject = validate(a, "\n\n  [1]");
  EXPECT_EQ(notObject["errors"][0]["line"], 3);
  EXPECT_EQ(notObject["errors"][0]["column"], 3);
  EXPECT_TRUE(audit.events.empty());
}

TEST_F(PolicyAdminApiTest, AValidateBodyMustCarryTextAsAString) {
  auto a = api(file);
  for (const auto& c : std::vector<std::pair<json, std::string>>{
           {json::object(), "INVALID_REQUEST"},
           {json{{"text", 7}}, "INVALID_REQUEST"},
           {json{{"text", json::object()}}, "INVALID_REQUEST"},
           {json{{"text", nullptr}}, "INVALID_REQUEST"},
           {json{{"text", "{}"}, {"policy", 1}}, "UNKNOWN_FIELD"},
       }) {
    Request r = req(c.first);
    EXPECT_EQ(codeOf(a.validatePolicy(r)), c.second) << c.first.dump();
  }
  EXPECT_EQ(validate(a, "")["errors"][0]["code"], "BAD_JSON");
  EXPECT_EQ(validate(a, "")["errors"][0]["line"], 1);
}

}  // namespace
}  // namespace sealgate::appliance
