// The egress guard on the appliance's exits: log lines and HTTP responses (the
// audit log's hook is tested in audit_log_test.cc), each scoped to the request
// (the EgressScope) being served on the thread.
#include <gtest/gtest.h>

#include "appliance/app/appliance.h"
#include "appliance/execute/execute_api.h"
#include "appliance/server/http_server.h"
#include "appliance/telemetry/egress.h"
#include "appliance/telemetry/logging.h"
#include "core/encoding.h"

#include <thread>

namespace sealgate::appliance {
namespace {

using nlohmann::json;

// A request's scope on this thread with `value` live in it, as /v1/execute leaves it.
struct Live {
  std::unique_ptr<EgressScope> scope = std::make_unique<EgressScope>();
  EgressGuard::Registration registration;  // released before the scope closes
};
Live protect(std::string_view value) {
  auto secret = Secret::copyFrom(value);
  EXPECT_TRUE(secret.ok());
  Live live;
  live.registration = live.scope->guard().protect(*secret);
  return live;
}

// What `f` returns when run on another thread, in a request scope of its own.
template <typename F>
auto onAnotherRequestThread(F f) {
  decltype(f()) out;
  std::thread([&] {
    EgressScope other;
    out = f();
  }).join();
  return out;
}

TEST(GuardedLogLine, UnchangedWhileNothingIsLive) {
  const json line = {{"event", "x"}, {"value", "hunter2-password"}};
  EXPECT_EQ(guardedLogLine(line), line.dump());
}

TEST(GuardedLogLine, ScrubsLiveValuesInStringsAndKeys) {
  auto reg = protect("hunter2-password");
  const std::string text = guardedLogLine({{"event", "peer_error"},
                                           {"what", "login failed for hunter2-password"},
                                           {"aHVudGVyMi1wYXNzd29yZA", "base64url key"}});
  EXPECT_EQ(json::parse(text),
            (json{{"event", "peer_error"}, {"what", "login failed for [REDACTED]"}, {"[REDACTED]", "base64url key"}}));
}

TEST(GuardedLogLine, ALineStillCarryingAValueIsReplacedWithoutItsContent) {
  auto reg = protect("31415926");
  const std::string text = guardedLogLine({{"event", "dump"}, {"pin", 31415926}, {"other", "context"}});
  EXPECT_EQ(text.find("31415926"), std::string::npos);
  EXPECT_EQ(text.find("context"), std::string::npos);
  const json line = json::parse(text);
  EXPECT_EQ(line["event"], "egress_blocked");
  EXPECT_EQ(line["code"], "EGRESS_BLOCKED");
}

TEST(GuardedLogLine, AnotherRequestsLiveValueIsNotLookedFor) {
  // Issue 12: a value live in one request was redacted from every request's
  // output, so another tenant could test guesses by watching for [REDACTED].
  auto reg = protect("hunter2-password");
  const json line = {{"event", "x"}, {"what", "guess: hunter2-password"}};
  EXPECT_EQ(json::parse(guardedLogLine(line))["what"], "guess: [REDACTED]");  // this request
  EXPECT_EQ(onAnotherRequestThread([&] { return guardedLogLine(line); }), line.dump());
  // A thread in no request at all (a background thread) is not scrubbed either.
  std::string background;
  std::thread([&] { background = guardedLogLine(line); }).join();
  EXPECT_EQ(background, line.dump());
}

TEST(GuardResponse, AnotherRequestsLiveValueIsNotLookedFor) {
  auto reg = protect("31415926");
  const auto other = onAnotherRequestThread([] {
    Response out(200, json{{"canonical", "secret://acme/kv/31415926"}, {"n", 31415926}});
    GuardedBody body = guardResponse(out, "cid", false);
    return std::make_pair(body.blocked, body.bytes);
  });
  EXPECT_FALSE(other.first);
  EXPECT_EQ(other.second, R"({"canonical":"secret://acme/kv/31415926","n":31415926})");
  Response mine(200, json{{"n", 31415926}});
  EXPECT_TRUE(guardResponse(mine, "cid", false).blocked);  // in the request that made it live: blocked
}

TEST(EgressScope, ANestedScopeJoinsTheOuterOne) {
  auto reg = protect("hunter2-password");
  {
    EgressScope inner;
    EXPECT_EQ(&inner.guard(), &reg.scope->guard());
    EXPECT_TRUE(egressGuard().carries("hunter2-password"));
    auto secret = Secret::copyFrom(std::string_view("kept-until-outer-closes"));
    inner.keep(inner.guard().protect(*secret));
  }
  EXPECT_TRUE(egressGuard().carries("kept-until-outer-closes"));  // inner closed: still live
  reg.registration.release();
  reg.scope.reset();  // the outer scope closes
  EXPECT_EQ(EgressScope::current(), nullptr);
  EXPECT_FALSE(egressGuard().active());
}

TEST(ProtocolVocabulary, AddsTheOpenApiKeysAndEnumeratedValues) {
  const std::string v = protocolVocabularyWith(R"({"paths":{"/x":{"enum":["SOME_CODE",3]}},"deep":[{"k":1}]})");
  for (const char* w : {"\"SOME_CODE\"", "\"paths\"", "\"/x\"", "\"deep\"", "\"k\"", "\"allow\""}) {
    EXPECT_NE(v.find(w), std::string::npos) << w;
  }
  // The daemon's: every error code and field name of the contract.
  const std::string daemon = protocolVocabularyWith(kOpenApiJson);
  for (const char* w : {"\"SECRET_UNUSABLE\"", "\"UNKNOWN_FIELD\"", "\"remaining_uses\"", "\"resource_ref\""}) {
    EXPECT_NE(daemon.find(w), std::string::npos) << w;
  }
}

TEST(GuardResponse, UnchangedWhileNothingIsLive) {
  Response out(200, json{{"result", "hunter2-password"}});
  const GuardedBody body = guardResponse(out, "cid", false);
  EXPECT_FALSE(body.blocked);
  EXPECT_EQ(body.bytes, R"({"result":"hunter2-password"})");
}

TEST(GuardResponse, ScrubsJsonBodiesRawBodiesAndHeaders) {
  auto reg = protect("hunter2-password");
  Response json200(200, json{{"result", {{"stdout", "pw=hunter2-password"}}}});
  json200.headers["X-Peer"] = "hunter2-password";
  const GuardedBody a = guardResponse(json200, "cid", false);
  EXPECT_FALSE(a.blocked);
  EXPECT_EQ(a.bytes, R"({"result":{"stdout":"pw=[REDACTED]"}})");
  EXPECT_EQ(json200.headers["X-Peer"], "[REDACTED]");

  Response raw;
  raw.contentType = "text/plain";
  raw.rawBody = "hex " + hexLower(asBytes(std::string_view("hunter2-password")));
  const GuardedBody b = guardResponse(raw, "cid", false);
  EXPECT_FALSE(b.blocked);
  EXPECT_EQ(b.bytes, "hex [REDACTED]");
}

TEST(GuardResponse, ErrorMessagesAreScrubbedToo) {
  auto reg = protect("hunter2-password");
  Response err(502, errorBody(ErrorCode::PeerError, "peer said: hunter2-password", "cid"));
  const GuardedBody body = guardResponse(err, "cid", false);
  EXPECT_FALSE(body.blocked);
  EXPECT_EQ(json::parse(body.bytes)["error"]["message"], "peer said: [REDACTED]");
}

TEST(GuardResponse, ABodyStillCarryingAValueBecomes502EgressBlocked) {
  auto reg = protect("31415926");
  Response out(200, json{{"rows", json::array({31415926})}});
  const GuardedBody body = guardResponse(out, "cid-1", false);
  EXPECT_TRUE(body.blocked);
  EXPECT_EQ(out.status, 502);
  EXPECT_EQ(body.bytes.find("31415926"), std::string::npos);
  const json parsed = json::parse(body.bytes);
  EXPECT_EQ(parsed["error"]["code"], "EGRESS_BLOCKED");
  EXPECT_EQ(parsed["error"]["correlation_id"], "cid-1");
  EXPECT_TRUE(parsed["error"]["message"].is_string());

  Response vault(200, json{{"data", {{"n", 31415926}}}});
  const GuardedBody v = guardResponse(vault, "cid-2", true);
  EXPECT_TRUE(v.blocked);
  EXPECT_EQ(vault.headers["X-Sealgate-Error"], "EGRESS_BLOCKED");
  EXPECT_TRUE(json::parse(v.bytes)["errors"].is_array());
}

TEST(GuardResponse, AHeaderNameCarryingAValueBlocksTheResponse) {
  auto reg = protect("hunter2-password");
  Response out(200, json::object());
  out.headers["X-hunter2-password"] = "1";
  EXPECT_TRUE(guardResponse(out, "cid", false).blocked);
  EXPECT_EQ(out.status, 502);
  EXPECT_TRUE(out.headers.empty());
}

}  // namespace
}  // namespace sealgate::appliance
