#include "appliance/policy/embedded_policy.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>
#include <vector>

namespace sealgate::appliance {
namespace {

DecisionSubject subject(const std::string& id) {
  auto tenant = id.substr(9, id.find('/', 9) - 9);
  return DecisionSubject{id, tenant, id.substr(id.rfind('/') + 1)};
}

Decision decideOne(const Policy& p, const std::string& who, const std::string& uri, const std::string& action = "use") {
  return p.decide(subject(who), DecisionRequest{0, uri, action, "{}"});
}

TEST(EmbeddedPolicy, DevPolicyMatchesApiMd) {
  auto p = Policy::parse(devPolicyJson());
  ASSERT_TRUE(p.ok()) << p.error().describe();
  auto allowed = decideOne(*p, "spiffe://acme/payments", "secret://acme/kv/app/db?version=3#password");
  EXPECT_TRUE(allowed.allow);
  auto obl = nlohmann::json::parse(allowed.obligationsJson);
  EXPECT_EQ(obl["ttl_seconds"], 300);
  EXPECT_EQ(obl["max_uses"], 5);
  EXPECT_FALSE(decideOne(*p, "spiffe://acme/payments", "secret://acme/kv/app/x/y").allow);  // * is one segment
  EXPECT_FALSE(decideOne(*p, "spiffe://acme/payments", "secret://acme/db/app").allow);
  EXPECT_FALSE(decideOne(*p, "spiffe://acme/payments", "secret://acme/kv/app/db", "delete").allow);
  EXPECT_FALSE(decideOne(*p, "spiffe://acme/other", "secret://acme/kv/app/db").allow);
  EXPECT_FALSE(decideOne(*p, "spiffe://acme/payments", "secret://globex/kv/x").allow);
  EXPECT_TRUE(decideOne(*p, "spiffe://globex/billing", "secret://globex/kv/x").allow);
  EXPECT_EQ(decideOne(*p, "spiffe://globex/billing", "secret://acme/kv/app/db").reason, "POLICY_NO_MATCH");
  // admins may reveal KV values (the KV API audits each reveal); nobody else may
  EXPECT_TRUE(decideOne(*p, "spiffe://sealgate-admin/admin/admin", "secret://acme/kv/app/db", "reveal").allow);
  EXPECT_TRUE(decideOne(*p, "spiffe://sealgate-admin/admin/alice", "secret://globex/kv/a/b/c", "reveal").allow);
  EXPECT_FALSE(decideOne(*p, "spiffe://sealgate-admin/auditor/auditor", "secret://acme/kv/app/db", "reveal").allow);
  EXPECT_FALSE(decideOne(*p, "spiffe://acme/payments", "secret://acme/kv/app/db", "reveal").allow);
  EXPECT_FALSE(decideOne(*p, "spiffe://sealgate-admin/admin/admin", "secret://acme/kv/app/db", "use").allow);
}

TEST(EmbeddedPolicy, DoubleStarDenyOverridesAndTightestObligations) {
  auto p = Policy::parse(R"({"version": 1, "rules": [
    {"id": "wide", "effect": "allow", "subjects": ["spiffe://acme/*"], "resources": ["secret://acme/kv/**"],
     "actions": ["*"], "obligations": {"ttl_seconds": 600, "max_uses": 3}},
    {"id": "narrow", "effect": "allow", "subjects": ["spiffe://acme/payments"], "resources": ["secret://acme/kv/app/**"],
     "actions": ["use"], "obligations": {"ttl_seconds": 60, "max_uses": 10}},
    {"id": "no-root", "effect": "deny", "subjects": ["spiffe://*/*"], "resources": ["secret://*/kv/root/**"],
     "actions": ["*"], "reason": "ROOT_SECRETS_FORBIDDEN"}
  ]})");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  auto d = decideOne(*p, "spiffe://acme/payments", "secret://acme/kv/app/a/b/c");
  ASSERT_TRUE(d.allow);
  auto obl = nlohmann::json::parse(d.obligationsJson);
  EXPECT_EQ(obl["ttl_seconds"], 60);
  EXPECT_EQ(obl["max_uses"], 3);
  EXPECT_TRUE(decideOne(*p, "spiffe://acme/batch", "secret://acme/kv/x", "rotate").allow);
  auto denied = decideOne(*p, "spiffe://acme/payments", "secret://acme/kv/root/k");
  EXPECT_FALSE(denied.allow);
  EXPECT_EQ(denied.reason, "ROOT_SECRETS_FORBIDDEN");
  // Path case is significant.
  auto p2 = Policy::parse(R"({"version":1,"rules":[{"id":"r","effect":"allow","subjects":["spiffe://acme/a"],
    "resources":["secret://acme/kv/App"],"actions":["use"]}]})");
  ASSERT_TRUE(p2.ok());
  EXPECT_TRUE(decideOne(*p2, "spiffe://acme/a", "secret://acme/kv/App").allow);
  EXPECT_FALSE(decideOne(*p2, "spiffe://acme/a", "secret://acme/kv/app").allow);
}

TEST(EmbeddedPolicy, TimeWindowsContextVersionPinAndReason) {
  auto p = Policy::parse(R"({"version":1,"rules":[
    {"id":"office","effect":"allow","subjects":["spiffe://acme/a"],"resources":["secret://acme/kv/**"],"actions":["use"],
     "conditions":{"time":{"days":["mon","tue","wed","thu","fri"],"from":"08:00","to":"18:00","tz":"UTC"},
                   "context":{"env":["prod","staging"]}},
     "obligations":{"version_pin":true,"reason_required":true}},
    {"id":"night","effect":"deny","subjects":["spiffe://acme/*"],"resources":["secret://acme/kv/night/*"],"actions":["*"],
     "conditions":{"time":{"from":"22:00","to":"06:00"}},"reason":"NIGHT_FREEZE"}]})");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  // 2026-11-24 is a Tuesday.
  auto at = [](int day, int hour) {
    std::tm tm{};
    tm.tm_year = 126;
    tm.tm_mon = 10;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    return std::chrono::system_clock::from_time_t(timegm(&tm));
  };
  const auto who = subject("spiffe://acme/a");
  auto ask = [&](const std::string& uri, const std::string& ctx, std::chrono::system_clock::time_point t) {
    return p->decide(who, DecisionRequest{0, uri, "use", ctx}, t);
  };
  const std::string good = R"({"env":"prod","reason":"ticket 42"})";
  EXPECT_TRUE(ask("secret://acme/kv/x?version=2", good, at(24, 10)).allow);
  EXPECT_FALSE(ask("secret://acme/kv/x?version=2", good, at(24, 19)).allow);  // after hours
  EXPECT_FALSE(ask("secret://acme/kv/x?version=2", good, at(29, 10)).allow);  // Sunday
  EXPECT_FALSE(ask("secret://acme/kv/x?version=2", R"({"env":"dev","reason":"x"})", at(24, 10)).allow);
  EXPECT_EQ(ask("secret://acme/kv/x", good, at(24, 10)).reason, "VERSION_PIN_REQUIRED");
  EXPECT_EQ(ask("secret://acme/kv/x?version=2", R"({"env":"prod"})", at(24, 10)).reason, "REASON_REQUIRED");
  EXPECT_EQ(ask("secret://acme/kv/x?version=2", R"({"env":"prod","reason":""})", at(24, 10)).reason, "REASON_REQUIRED");
  // A deny window that wraps midnight.
  EXPECT_EQ(ask("secret://acme/kv/night/k?version=1", good, at(24, 23)).reason, "NIGHT_FREEZE");
  EXPECT_EQ(ask("secret://acme/kv/night/k?version=1", good, at(25, 5)).reason, "NIGHT_FREEZE");
  EXPECT_TRUE(ask("secret://acme/kv/night/k?version=1", good, at(25, 9)).allow);
  for (const char* bad : {R"({"time":{"from":"25:00"}})", R"({"time":{"days":["monday"]}})", R"({"time":{"tz":"CET"}})",
                          R"({"context":{"env":[]}})", R"({"context":{"env":[{"a":1}]}})", R"({"when":1})"}) {
    std::string doc = R"({"version":1,"rules":[{"id":"r","effect":"allow","subjects":["spiffe://a/b"],)"
                      R"("resources":["secret://a/kv/x"],"actions":["use"],"conditions":)" +
                      std::string(bad) + "}]}";
    EXPECT_FALSE(Policy::parse(doc).ok()) << bad;
  }
}

TEST(EmbeddedPolicy, DefaultDenyAndBadUrisDeny) {
  auto empty = Policy::parse(R"({"version":1,"rules":[]})");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(decideOne(*empty, "spiffe://acme/a", "secret://acme/kv/x").reason, "POLICY_NO_MATCH");
  auto dev = Policy::parse(devPolicyJson());
  EXPECT_EQ(decideOne(*dev, "spiffe://acme/payments", "secret://acme/kv/app/../x").reason, "URI_TRAVERSAL");
}

TEST(EmbeddedPolicy, RejectsMalformedPolicies) {
  const char* base =
      R"({"id":"r","effect":"allow","subjects":["spiffe://acme/a"],"resources":["secret://acme/kv/*"],"actions":["use"]})";
  auto withRule = [](const std::string& rule) { return R"({"version":1,"rules":[)" + rule + "]}"; };
  ASSERT_TRUE(Policy::parse(withRule(base)).ok());
  for (
      const std::string& bad : std::vector<std::string>{
          "",
          "[]",
          R"({"version":2,"rules":[]})",
          R"({"version":1})",
          R"({"version":1,"rules":[],"extra":1})",
          withRule("5"),
          withRule(
              R"({"effect":"allow","subjects":["spiffe://a/b"],"resources":["secret://a/kv/*"],"actions":["use"]})"),
          withRule(
              R"({"id":"r","effect":"maybe","subjects":["spiffe://a/b"],"resources":["secret://a/kv/*"],"actions":["use"]})"),
          withRule(R"({"id":"r","effect":"allow","subjects":[],"resources":["secret://a/kv/*"],"actions":["use"]})"),
          withRule(
              R"({"id":"r","effect":"allow","subjects":["acme/b"],"resources":["secret://a/kv/*"],"actions":["use"]})"),
          withRule(
              R"({"id":"r","effect":"allow","subjects":["spiffe://a/b"],"resources":["https://a/kv/*"],"actions":["use"]})"),
          withRule(
              R"({"id":"r","effect":"allow","subjects":["spiffe://a/b"],"resources":["secret://**/x"],"actions":["use"]})"),
          withRule(
              R"({"id":"r","effect":"allow","subjects":["spiffe://a/b"],"resources":["secret://a/kv/x*"],"actions":["use"]})"),
          withRule(
              R"({"id":"r","effect":"allow","subjects":["spiffe://a/b"],"resources":["secret://a/kv/x#f"],"actions":["use"]})"),
          withRule(
              R"({"id":"r","effect":"allow","subjects":["spiffe://a/b"],"resources":["secret://a/kv//x"],"actions":["use"]})"),
          withRule(
              R"({"id":"r","effect":"allow","subjects":["spiffe://a/b"],"resources":["secret://a/kv/x"],"actions":[5]})"),
          withRule(
              R"({"id":"r","effect":"allow","subjects":["spiffe://a/b"],"resources":["secret://a/kv/x"],"actions":["use"],"obligations":{"ttl_seconds":0}})"),
          withRule(
              R"({"id":"r","effect":"allow","subjects":["spiffe://a/b"],"resources":["secret://a/kv/x"],"actions":["use"],"obligations":{"max_uses":2000000}})"),
          withRule(
              R"({"id":"r","effect":"allow","subjects":["spiffe://a/b"],"resources":["secret://a/kv/x"],"actions":["use"],"obligations":{"ttl":5}})"),
          withRule(
              R"({"id":"r","effect":"deny","subjects":["spiffe://a/b"],"resources":["secret://a/kv/x"],"actions":["use"],"reason":"lower case"})"),
          withRule(
              R"({"id":"r","effect":"deny","subjects":["spiffe://a/b"],"resources":["secret://a/kv/x"],"actions":["use"],"obligations":{"max_uses":1}})"),
          withRule(
              R"({"id":"r","effect":"allow","subjects":["spiffe://a/b"],"resources":["secret://a/kv/x"],"actions":["use"],"when":{}})"),
      }) {
    auto r = Policy::parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::PolicyInvalid);
    }
  }
}

TEST(EmbeddedPolicy, EgressAllowListsPerTenantAndConnector) {
  auto dev = Policy::parse(devPolicyJson());
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ(dev->egress("acme", "rest").hosts, (std::vector<std::string>{"127.0.0.1", "localhost"}));
  EXPECT_TRUE(dev->egress("acme", "ssh").hosts.empty());  // nothing configured: nothing allowed
  EXPECT_TRUE(dev->egress("initech", "rest").hosts.empty());
  auto p = Policy::parse(R"({"version":1,"rules":[],"egress":{
      "acme":{"ssh":{"hosts":["Bastion.Example.com"],"ports":[22],"commands":["uptime","df -h"]},
              "postgres":{"hosts":["*.db.example.com"],"plaintext":true}}}})");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  const auto ssh = p->egress("acme", "ssh");
  EXPECT_EQ(ssh.hosts, std::vector<std::string>{"bastion.example.com"});  // lowercased
  EXPECT_EQ(ssh.ports, std::vector<std::uint16_t>{22});
  EXPECT_EQ(ssh.commands, (std::vector<std::string>{"uptime", "df -h"}));
  EXPECT_TRUE(egressHostAllowed(p->egress("acme", "postgres"), "pg1.db.example.com", 5432));
  EXPECT_TRUE(p->egress("acme", "postgres").plaintext);
  EXPECT_FALSE(ssh.plaintext);
  EXPECT_TRUE(p->egress("globex", "ssh").hosts.empty());
  for (const std::string egress :
       {R"([])", R"({"acme":[]})", R"({"acme":{"ftp":{"hosts":["h"]}}})", R"({"acme":{"rest":{}}})",
        R"({"acme":{"rest":{"hosts":[]}}})", R"({"acme":{"rest":{"hosts":["https://h"]}}})",
        R"({"acme":{"rest":{"hosts":["h/x"]}}})", R"({"acme":{"rest":{"hosts":["a*.h"]}}})",
        R"({"acme":{"rest":{"hosts":["h"],"ports":[0]}}})", R"({"acme":{"rest":{"hosts":["h"],"ports":[70000]}}})",
        R"({"acme":{"rest":{"hosts":["h"],"commands":["ls"]}}})", R"({"acme":{"ssh":{"hosts":["h"]}}})",
        R"({"acme":{"rest":{"hosts":["h"],"extra":1}}})", R"({"sealgate-admin":{"rest":{"hosts":["h"]}}})",
        R"({"acme":{"ssh":{"hosts":["h"],"commands":[""]}}})", R"({"acme":{"rest":{"hosts":["h"],"plaintext":true}}})",
        R"({"acme":{"postgres":{"hosts":["h"],"plaintext":"yes"}}})"}) {
    auto r = Policy::parse(R"({"version":1,"rules":[],"egress":)" + egress + "}");
    EXPECT_FALSE(r.ok()) << egress;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::PolicyInvalid);
    }
  }
}

TEST(EmbeddedPolicy, SshHostKeysArePinnedPerDestination) {
  const std::string k1 = "SHA256:0UbKkxk/KPx9hRf7YqiY87A100h+wWQi9Ka9Sx1JoPc";
  const std::string k2 = "SHA256:" + std::string(43, 'A');
  auto p = Policy::parse(R"({"version":1,"rules":[],"egress":{"acme":{"ssh":{
      "hosts":["Bastion.Example.com","*.db.example","10.0.0.5","fd00::5"],"commands":["uptime"],
      "host_keys":{"bastion.example.com":[")" +
                         k1 + R"("],"Pg1.DB.example:2222":[")" + k1 + R"(",")" + k2 + R"("],"10.0.0.5:22":[")" + k2 +
                         R"("],"fd00::5":[")" + k1 + R"("],"[fd00::5]:2200":[")" + k2 + R"("]}}}}})");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  const auto ssh = p->egress("acme", "ssh");
  ASSERT_EQ(ssh.hostKeys.size(), 5u);
  auto pins = [&](const std::string& host, std::uint16_t port) {
    const auto* found = pinnedHostKeys(ssh, host, port);
    return found ? *found : std::vector<std::string>{};
  };
  EXPECT_EQ(pins("bastion.example.com", 22), std::vector<std::string>{k1});  // lowercased, any port
  EXPECT_EQ(pins("bastion.example.com", 2222), std::vector<std::string>{k1});
  EXPECT_EQ(pins("pg1.db.example", 2222), (std::vector<std::string>{k1, k2}));
  EXPECT_EQ(pinnedHostKeys(ssh, "pg1.db.example", 22), nullptr);    // another port: not pinned
  EXPECT_EQ(pinnedHostKeys(ssh, "pg2.db.example", 2222), nullptr);  // the wildcard allows it, nothing pins it
  EXPECT_EQ(pins("10.0.0.5", 22), std::vector<std::string>{k2});
  EXPECT_EQ(pinnedHostKeys(ssh, "10.0.0.5", 23), nullptr);
  EXPECT_EQ(pins("fd00::5", 22), std::vector<std::string>{k1});
  EXPECT_EQ(pins("fd00::5", 2200), std::vector<std::string>{k2});  // the port entry wins over the host's
  EXPECT_TRUE(p->egress("acme", "rest").hostKeys.empty());

  const std::string base = R"({"version":1,"rules":[],"egress":{"acme":{)";
  for (const std::string& bad : std::vector<std::string>{
           // not on ssh
           R"("rest":{"hosts":["h"],"host_keys":{"h":[")" + k1 + R"("]}})",
           // shapes
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":[]})",
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{}})",
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"h":[]}})",
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"h":")" + k1 + R"("}})",
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"h":[1]}})",
           // malformed pins
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"h":[")" + k1.substr(7) + R"("]}})",
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"h":["MD5:00:11"]}})",
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"h":[")" + k1 + R"(="]}})",
           // malformed destinations
           R"("ssh":{"hosts":["*.h"],"commands":["c"],"host_keys":{"*.h":[")" + k1 + R"("]}})",
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"h:0":[")" + k1 + R"("]}})",
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"h:70000":[")" + k1 + R"("]}})",
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"h:":[")" + k1 + R"("]}})",
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"h:2x":[")" + k1 + R"("]}})",
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"[h]:22":[")" + k1 + R"("]}})",
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"u@h":[")" + k1 + R"("]}})",
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"":[")" + k1 + R"("]}})",
           // the same destination twice (case-insensitive)
           // NOLINTNEXTLINE(performance-inefficient-string-concatenation): a test table
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"h":[")" + k1 + R"("],"H":[")" + k2 + R"("]}})",
           // a destination hosts or ports never allow
           R"("ssh":{"hosts":["h"],"commands":["c"],"host_keys":{"other":[")" + k1 + R"("]}})",
           R"("ssh":{"hosts":["h"],"ports":[22],"commands":["c"],"host_keys":{"h:2222":[")" + k1 + R"("]}})"}) {
    auto r = Policy::parse(base + bad + "}}}");
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::PolicyInvalid) << bad;
    }
  }
}

TEST(EmbeddedPolicy, ConnectorsObligationIsTheIntersectionOfTheRulesThatListIt) {
  auto p = Policy::parse(R"({"version":1,"rules":[
    {"id":"a","effect":"allow","subjects":["spiffe://acme/p"],"resources":["secret://acme/kv/**"],"actions":["use"]},
    {"id":"b","effect":"allow","subjects":["spiffe://acme/p"],"resources":["secret://acme/kv/keys/*"],"actions":["use"],
     "obligations":{"connectors":["hmac","sign","rest"]}},
    {"id":"c","effect":"allow","subjects":["spiffe://acme/p"],"resources":["secret://acme/kv/keys/mac"],"actions":["use"],
     "obligations":{"connectors":["hmac","ssh"]}}]})");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  auto obl = [&](const std::string& uri) {
    return nlohmann::json::parse(decideOne(*p, "spiffe://acme/p", uri).obligationsJson);
  };
  EXPECT_FALSE(obl("secret://acme/kv/app/db").contains("connectors"));  // unlisted: the default set
  EXPECT_EQ(obl("secret://acme/kv/keys/signer")["connectors"], nlohmann::json({"hmac", "sign", "rest"}));
  EXPECT_EQ(obl("secret://acme/kv/keys/mac")["connectors"], nlohmann::json({"hmac"}));
  for (const char* bad :
       {R"("connectors":[])", R"("connectors":["ftp"])", R"("connectors":"hmac")", R"("connectors":[1])"}) {
    auto r =
        Policy::parse(std::string(R"({"version":1,"rules":[{"id":"x","effect":"allow","subjects":["spiffe://a/b"],)") +
                      R"("resources":["secret://a/kv/x"],"actions":["use"],"obligations":{)" + bad + "}}]}");
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(EmbeddedPolicy, ReplaceWhileDecidingIsSafe) {
  auto allowAll = std::make_shared<const Policy>(*Policy::parse(
      R"({"version":1,"rules":[{"id":"all","effect":"allow","subjects":["spiffe://*/*"],"resources":["secret://*/*/**"],"actions":["*"]}]})"));
  auto denyAll = std::make_shared<const Policy>(*Policy::parse(R"({"version":1,"rules":[]})"));
  EmbeddedPolicyDecisionPoint pdp(allowAll);
  std::atomic<bool> stop{false};
  std::atomic<int> inconsistent{0}, decided{0};
  std::vector<std::thread> readers;
  readers.reserve(4);
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      std::vector<DecisionRequest> batch{{0, "secret://acme/kv/a", "use", "{}"},
                                         {1, "secret://acme/kv/b", "use", "{}"}};
      while (!stop) {
        auto r = pdp.decide(subject("spiffe://acme/a"), batch, std::chrono::milliseconds(100));
        if (!r.ok() || r->size() != 2 || (*r)[0].allow != (*r)[1].allow) ++inconsistent;  // one policy per batch
        ++decided;
      }
    });
  }
  // Swap until the readers have made enough decisions (bounded in time, not asserted on).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int i = 0; decided.load() < 2000 && std::chrono::steady_clock::now() < until; ++i) {
    pdp.replace(i % 2 ? allowAll : denyAll);
  }
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_GE(decided.load(), 2000);
}

TEST(EmbeddedPolicy, RefusesARepeatedKeyOrDeepNesting) {
  // A rule with two effects: one reader would deny, another allow.
  const std::string rule = R"({"id":"r","effect":"deny","effect":"allow","subjects":["spiffe://acme/a"],)"
                           R"("resources":["secret://acme/kv/**"],"actions":["use"]})";
  for (const auto& [doc, code] : std::vector<std::pair<std::string, std::string>>{
           {R"({"version":1,"rules":[)" + rule + "]}", "JSON_DUPLICATE_KEY"},
           {R"({"version":1,"rules":[],"rules":[]})", "JSON_DUPLICATE_KEY"},
           {R"({"version":1,"rules":[],"egress":)" + std::string(40, '[') + std::string(40, ']') + "}",
            "JSON_TOO_DEEP"}}) {
    auto p = Policy::parse(doc);
    ASSERT_FALSE(p.ok()) << doc;
    EXPECT_EQ(p.error().code, ErrorCode::PolicyInvalid);
    EXPECT_NE(p.error().message.find(code), std::string::npos) << p.error().message;
  }
}

// The pointer of the element an error names (POST /admin/v1/policy/validate
// places it in the text); the error itself is the one parse(text) gives.
TEST(EmbeddedPolicy, AnErrorNamesItsElementByJsonPointer) {
  const std::string rule =
      R"({"id":"r","effect":"allow","subjects":["spiffe://a/b"],"resources":["secret://a/kv/x"],"actions":["use"]})";
  struct Case {
    std::string text, pointer;
  };
  for (const auto& c : std::vector<Case>{
           {"[]", ""},
           {"{\"version\":1,\"rules\":[], \"x/y~\":1}", "/x~1y~0"},
           {"{\"version\":2,\"rules\":[]}", "/version"},
           {"{\"version\":1,\"rules\":{}}", "/rules"},
           {"{\"version\":1,\"rules\":[" + rule + ",7]}", "/rules/1"},
           {"{\"version\":1,\"rules\":[" + rule + ",{\"id\":\"x\",\"effect\":\"maybe\"}]}", "/rules/1/effect"},
           {"{\"version\":1,\"rules\":[{\"id\":\"x\",\"effect\":\"allow\",\"subjects\":[\"spiffe://a/b\"],"
            "\"resources\":[\"secret://a/kv/x\",\"secret://a/kv/x*\"],\"actions\":[\"use\"]}]}",
            "/rules/0/resources/1"},
           {"{\"version\":1,\"rules\":[{\"id\":\"x\",\"effect\":\"allow\",\"subjects\":[\"spiffe://a/b\",\"acme\"],"
            "\"resources\":[\"secret://a/kv/x\"],\"actions\":[\"use\"]}]}",
            "/rules/0/subjects/1"},
           {"{\"version\":1,\"rules\":[{\"id\":\"x\",\"effect\":\"allow\",\"subjects\":[\"spiffe://a/b\"],"
            "\"resources\":[\"secret://a/kv/x\"],\"actions\":[\"use\",\"\"]}]}",
            "/rules/0/actions/1"},
           {"{\"version\":1,\"rules\":[{\"id\":\"x\",\"effect\":\"allow\",\"subjects\":[\"spiffe://a/b\"],"
            "\"resources\":[\"secret://a/kv/x\"],\"actions\":[\"use\"],\"obligations\":{\"max_uses\":0}}]}",
            "/rules/0/obligations/max_uses"},
           {"{\"version\":1,\"rules\":[{\"id\":\"x\",\"effect\":\"allow\",\"subjects\":[\"spiffe://a/b\"],"
            "\"resources\":[\"secret://a/kv/x\"],\"actions\":[\"use\"],"
            "\"conditions\":{\"time\":{\"days\":[\"mon\",\"funday\"]}}}]}",
            "/rules/0/conditions/time/days/1"},
           {"{\"version\":1,\"rules\":[],\"egress\":{\"acme\":{\"rest\":{\"hosts\":[\"ok\",\"http://x\"]}}}}",
            "/egress/acme/rest/hosts/1"},
           {"{\"version\":1,\"rules\":[],\"egress\":{\"acme\":{\"ftp\":{}}}}", "/egress/acme/ftp"},
           {"{\"version\":1,\"rules\":[],\"egress\":{\"acme\":{\"rest\":{\"hosts\":[\"h\"],\"ports\":[80,0]}}}}",
            "/egress/acme/rest/ports/1"},
           {"{\"version\":1,\"rules\":[", ""},  // not JSON: no element
       }) {
    std::string pointer = "unset";
    auto parsed = Policy::parse(c.text, &pointer);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(pointer, c.pointer) << c.text;
    auto plain = Policy::parse(c.text);
    ASSERT_FALSE(plain.ok());
    EXPECT_EQ(parsed.error().message, plain.error().message);
    EXPECT_EQ(parsed.error().describe(), plain.error().describe());  // nothing added
    EXPECT_EQ(plain.error().describe(), "POLICY_INVALID: " + plain.error().message);
  }
}

}  // namespace
}  // namespace sealgate::appliance
