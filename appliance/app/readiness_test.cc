// /readyz's composition (readiness.h) over probes that need no HSM, TPM or
// disk: every part ok is 200 "ready"; each part failing, or throwing, is 503
// "not_ready" with that part named and its stable code; nothing but status,
// code, counts and missing key labels leaves. The e2e suite checks the real
// components (tests/e2e/test_daemon.py).
#include "appliance/app/readiness.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace sealgate::appliance {
namespace {

using nlohmann::json;

constexpr const char* kLeak = "pin=4711 secret://acme/kv/app/db#password /var/lib/sealgate/state";

ReadinessProbes healthy() {
  ReadinessProbes p;
  p.hsm = [] { return json{{"status", "ok"}}; };
  p.auditHealthy = [] { return true; };
  p.auditEntries = [] { return std::uint64_t{42}; };
  p.stateHealthy = [] { return true; };
  p.stateStatus = [] { return json{{"status", "ok"}, {"dir", "/var/lib/sealgate/state"}}; };
  p.pdpType = "embedded";
  p.providers.emplace_back("kv", [] { return true; });
  return p;
}

void expectNotReady(const Response& r, const std::string& part, const std::string& code) {
  EXPECT_EQ(r.status, 503) << r.body.dump();
  EXPECT_EQ(r.body["status"], "not_ready");
  const json& check =
      part.rfind("providers.", 0) == 0 ? r.body["checks"]["providers"][part.substr(10)] : r.body["checks"][part];
  EXPECT_EQ(check["status"], "fail") << part << ": " << r.body.dump();
  EXPECT_EQ(check["code"], code) << part << ": " << r.body.dump();
}

TEST(Readiness, EveryPartOkIsReadyInTheDocumentedShape) {
  auto p = healthy();
  p.providers.emplace_back("databases", [] { return true; });
  const Response r = readinessAnswer(p);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, json::parse(R"({"status": "ready", "checks": {
      "hsm": {"status": "ok"},
      "audit": {"status": "ok", "entries": 42},
      "state": {"status": "ok", "backend": "sealed-journal"},
      "pdp": {"status": "ok", "type": "embedded"},
      "providers": {"kv": {"status": "ok"}, "databases": {"status": "ok"}}}})"));
}

TEST(Readiness, TheKafkaForwarderIsReportedAndAStallDoesNotFailTheAudit) {
  auto p = healthy();
  p.kafkaDelivered = [] { return std::uint64_t{40}; };
  p.kafkaHealthy = [] { return false; };
  const Response r = readinessAnswer(p);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body["checks"]["audit"]["kafka"], (json{{"delivered", 40}, {"stalled", true}}));
}

TEST(Readiness, EachFailingPartIsNamedWithItsCode) {
  {
    auto p = healthy();
    p.hsm = [] { return json{{"status", "fail"}, {"code", "HSM_NOT_LOGGED_IN"}}; };
    expectNotReady(readinessAnswer(p), "hsm", "HSM_NOT_LOGGED_IN");
  }
  {
    auto p = healthy();
    p.hsm = [] { return json{{"status", "fail"}, {"code", "HSM_KEY_MISSING"}, {"missing", {"sealgate-kek"}}}; };
    const Response r = readinessAnswer(p);
    expectNotReady(r, "hsm", "HSM_KEY_MISSING");
    EXPECT_EQ(r.body["checks"]["hsm"]["missing"], json::array({"sealgate-kek"}));
  }
  {
    auto p = healthy();
    p.auditHealthy = [] { return false; };
    const Response r = readinessAnswer(p);
    expectNotReady(r, "audit", "AUDIT_UNAVAILABLE");
    EXPECT_FALSE(r.body["checks"]["audit"].contains("entries"));
  }
  {
    auto p = healthy();
    p.stateHealthy = [] { return false; };
    p.stateStatus = [] { return json{{"status", "closed"}, {"code", "STATE_ROLLBACK"}, {"message", kLeak}}; };
    expectNotReady(readinessAnswer(p), "state", "STATE_ROLLBACK");
  }
  {
    auto p = healthy();
    p.stateHealthy = [] { return false; };
    p.stateStatus = [] { return json{{"status", "failed"}}; };  // no code of its own
    expectNotReady(readinessAnswer(p), "state", "STATE_UNAVAILABLE");
  }
  for (const char* provider : {"kv", "databases", "vault", "files"}) {
    auto p = healthy();
    p.providers.clear();
    p.providers.emplace_back(provider, [] { return false; });
    p.providers.emplace_back("other", [] { return true; });
    const Response r = readinessAnswer(p);
    expectNotReady(r, std::string("providers.") + provider, "PROVIDER_UNAVAILABLE");
    EXPECT_EQ(r.body["checks"]["providers"]["other"]["status"], "ok");
    EXPECT_EQ(r.body["checks"]["hsm"]["status"], "ok");  // the others are still reported
  }
}

TEST(Readiness, AProbeThatThrowsIsAFailureNotACrash) {
  const auto boom = []() -> bool { throw std::runtime_error(kLeak); };
  {
    auto p = healthy();
    p.hsm = []() -> json { throw std::runtime_error(kLeak); };
    expectNotReady(readinessAnswer(p), "hsm", "HSM_UNAVAILABLE");
  }
  {
    auto p = healthy();
    p.hsm = [] { return json("not an object"); };
    expectNotReady(readinessAnswer(p), "hsm", "HSM_UNAVAILABLE");
  }
  {
    auto p = healthy();
    p.auditHealthy = boom;
    expectNotReady(readinessAnswer(p), "audit", "AUDIT_UNAVAILABLE");
  }
  {
    auto p = healthy();
    p.kafkaDelivered = []() -> std::uint64_t { throw std::runtime_error(kLeak); };
    p.kafkaHealthy = [] { return true; };
    expectNotReady(readinessAnswer(p), "audit", "AUDIT_UNAVAILABLE");
  }
  {
    auto p = healthy();
    p.stateHealthy = boom;
    expectNotReady(readinessAnswer(p), "state", "STATE_UNAVAILABLE");
  }
  {
    auto p = healthy();
    p.stateHealthy = [] { return false; };
    p.stateStatus = [] { return json{{"code", 7}}; };  // a code that is not a name
    expectNotReady(readinessAnswer(p), "state", "STATE_UNAVAILABLE");
  }
  {
    auto p = healthy();
    p.providers.emplace_back("vault", boom);
    const Response r = readinessAnswer(p);
    expectNotReady(r, "providers.vault", "PROVIDER_UNAVAILABLE");
    EXPECT_EQ(r.body["checks"]["providers"]["kv"]["status"], "ok");
  }
}

TEST(Readiness, NoMessagePathOrUriLeavesInTheAnswer) {
  auto p = healthy();
  p.hsm = [] { return json{{"status", "fail"}, {"code", "HSM_ERROR"}, {"detail", kLeak}}; };
  p.stateHealthy = [] { return false; };
  p.stateStatus = [] {
    return json{{"status", "closed"}, {"code", "STATE_TAMPERED"}, {"message", kLeak}, {"dir", kLeak}};
  };
  p.providers.emplace_back("files", []() -> bool { throw std::runtime_error(kLeak); });
  const Response r = readinessAnswer(p);
  EXPECT_EQ(r.status, 503);
  const std::string text = r.body.dump();
  for (const char* piece : {"4711", "secret://", "/var/lib", "detail", "message", "dir"}) {
    EXPECT_EQ(text.find(piece), std::string::npos) << piece << " in " << text;
  }
  EXPECT_EQ(r.body["checks"]["hsm"], (json{{"status", "fail"}, {"code", "HSM_ERROR"}}));
  EXPECT_EQ(r.body["checks"]["state"], (json{{"status", "fail"}, {"code", "STATE_TAMPERED"}}));
}

}  // namespace
}  // namespace sealgate::appliance
