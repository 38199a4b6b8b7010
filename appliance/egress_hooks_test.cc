// The egress guard on the appliance's exits: log lines and HTTP responses (the
// audit log's hook is tested in audit_log_test.cc).
#include <gtest/gtest.h>

#include "appliance/egress.h"
#include "appliance/http_server.h"
#include "appliance/logging.h"
#include "core/encoding.h"

namespace sealgate::appliance {
namespace {

using nlohmann::json;

EgressGuard::Registration protect(std::string_view value) {
  auto secret = Secret::copyFrom(value);
  EXPECT_TRUE(secret.ok());
  return egressGuard().protect(*secret);
}

TEST(GuardedLogLine, UnchangedWhileNothingIsLive) {
  const json line = {{"event", "x"}, {"value", "hunter2-password"}};
  EXPECT_EQ(guardedLogLine(line), line.dump());
}

TEST(GuardedLogLine, ScrubsLiveValuesInStringsAndKeys) {
  auto reg = protect("hunter2-password");
  const std::string text = guardedLogLine(
      {{"event", "peer_error"}, {"what", "login failed for hunter2-password"},
       {"aHVudGVyMi1wYXNzd29yZA", "base64url key"}});
  EXPECT_EQ(json::parse(text), (json{{"event", "peer_error"}, {"what", "login failed for [REDACTED]"},
                                     {"[REDACTED]", "base64url key"}}));
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
  Response err(502, errorBody("PEER_ERROR", "peer said: hunter2-password", "cid"));
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
