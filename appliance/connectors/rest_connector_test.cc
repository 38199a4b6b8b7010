// The rest connector against a real HTTPS server on loopback (HttpsPeer).
#include "appliance/connectors/rest_connector.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "tests/support/https_peer.h"
#include "tests/support/temp_dir.h"

namespace sealgate::connectors {
namespace {

using nlohmann::json;

class RestConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing::writeTestPki(dir_));
    ASSERT_TRUE(testing::writeTestPki(otherCa_, "another CA"));
    peer_ = testing::HttpsPeer::start(dir_ + "/server.pem", dir_ + "/server.key");
    ASSERT_NE(peer_, nullptr);
    context_.tenant = "acme";
    context_.rules.hosts = {"127.0.0.1", "localhost"};
    context_.caFile = dir_ + "/ca.pem";
    context_.timeout = std::chrono::milliseconds(3000);
    context_.maxResponseBytes = 64 * 1024;
    secret_ = std::move(*Secret::copyFrom(std::string_view("s3cr3t value&=/\"")));
    slots_ = {{"tok", &secret_}};
  }
  std::string url(const std::string& pathAndQuery, const std::string& host = "127.0.0.1") const {
    return "https://" + host + ":" + std::to_string(peer_->port()) + pathAndQuery;
  }
  Result<json> runChecked(const json& action) {
    auto names = rest_.validate(action, context_);
    if (!names) return std::move(names).takeError();
    return rest_.run(action, context_, slots_);
  }

  void TearDown() override {
    peer_.reset();
    std::filesystem::remove_all(dir_);
    std::filesystem::remove_all(otherCa_);
  }

  std::string dir_ = testing::makeTempDir("rest-peer");
  std::string otherCa_ = testing::makeTempDir("rest-other-ca");
  std::unique_ptr<testing::HttpsPeer> peer_;
  ConnectorContext context_;
  Secret secret_;
  SlotValues slots_;
  RestConnector rest_;
};

TEST_F(RestConnectorTest, SlotsReachThePeerInHeadersQueryAndBody) {
  json action = {{"connector", "rest"},
                 {"method", "POST"},
                 {"url", url("/echo?key={{slot:tok}}&x=1")},
                 {"headers", {{"Authorization", "Bearer {{slot:tok}}"}}},
                 {"body", "{\"p\":\"{{slot:tok}}\"}"}};
  auto names = rest_.validate(action, context_);
  ASSERT_TRUE(names) << names.error().describe();
  EXPECT_EQ(*names, std::set<std::string>{"tok"});
  auto out = rest_.run(action, context_, slots_);
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ((*out)["status"], 200);
  auto echoed = json::parse((*out)["body"].get<std::string>());
  EXPECT_EQ(echoed["headers"]["Authorization"], "Bearer s3cr3t value&=/\"");
  EXPECT_EQ(echoed["body"], "{\"p\":\"s3cr3t value&=/\"\"}");  // raw: as written, the caller's escaping
  // Query values are percent-encoded, so '&' and '=' in a secret cannot split the query.
  EXPECT_EQ(echoed["query"], "key=s3cr3t%20value%26%3D%2F%22&x=1");
  EXPECT_EQ(echoed["method"], "POST");
}

TEST_F(RestConnectorTest, JsonBodiesEscapeSlotValues) {
  json action = {{"connector", "rest"},
                 {"method", "PUT"},
                 {"url", url("/echo")},
                 {"json", {{"password", "{{slot:tok}}"}, {"list", {1, "x-{{slot:tok}}"}}}}};
  ASSERT_TRUE(rest_.validate(action, context_));
  auto out = rest_.run(action, context_, slots_);
  ASSERT_TRUE(out) << out.error().describe();
  auto echoed = json::parse((*out)["body"].get<std::string>());
  auto sent = json::parse(echoed["body"].get<std::string>());
  EXPECT_EQ(sent["password"], "s3cr3t value&=/\"");
  EXPECT_EQ(sent["list"][1], "x-s3cr3t value&=/\"");
  EXPECT_EQ(echoed["headers"]["Content-Type"], "application/json");
  json keyed = {{"connector", "rest"}, {"method", "PUT"}, {"url", url("/echo")}, {"json", {{"{{slot:tok}}", 1}}}};
  EXPECT_EQ(rest_.validate(keyed, context_).error().code, connector_errc::kPlaceholderForbidden);
  json both = {{"connector", "rest"}, {"method", "PUT"}, {"url", url("/echo")}, {"json", 1}, {"body", "x"}};
  EXPECT_EQ(rest_.validate(both, context_).error().code, connector_errc::kInvalidAction);
}

TEST_F(RestConnectorTest, PeerStatusAndHeadersAreReturned) {
  auto out = runChecked({{"connector", "rest"}, {"method", "GET"}, {"url", url("/status?code=418")}});
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ((*out)["status"], 418);
  EXPECT_EQ((*out)["body"], "status");
  EXPECT_EQ((*out)["headers"]["Content-Type"], "text/plain");
}

TEST_F(RestConnectorTest, HeadersDescribingTheRawBodyAreDropped) {
  // The result's body is scrubbed before the caller sees it, so the peer's
  // length, range and digests of the raw body would tell the value's length or
  // let a guess be tested offline.
  auto out = runChecked({{"connector", "rest"},
                         {"method", "GET"},
                         {"url", url("/echo-described")},
                         {"headers", {{"Authorization", "Bearer {{slot:tok}}"}}}});
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ((*out)["status"], 200);
  const json& headers = (*out)["headers"];
  for (const char* dropped : {"Content-Length", "content-length", "ETag", "Content-MD5", "Digest", "Content-Digest",
                              "Repr-Digest", "Content-Range"}) {
    EXPECT_FALSE(headers.contains(dropped)) << dropped << " in " << headers.dump();
  }
  EXPECT_EQ(headers["X-Peer-Note"], "kept");
  EXPECT_EQ(headers["Content-Type"], "application/json");
  EXPECT_NE((*out)["body"].get<std::string>().find("Bearer s3cr3t value"), std::string::npos);
}

TEST_F(RestConnectorTest, SlotsAreForbiddenInSchemeHostPortAndPath) {
  for (const std::string u : {"https://{{slot:tok}}/x", "https://127.0.0.1:{{slot:tok}}/x",
                              "https://127.0.0.1/{{slot:tok}}", "https://127.0.0.1/a{{slot:tok}}b?q=1"}) {
    auto r = rest_.validate({{"connector", "rest"}, {"method", "GET"}, {"url", u}}, context_);
    ASSERT_FALSE(r) << u;
    EXPECT_EQ(r.error().code, connector_errc::kPlaceholderForbidden) << u;
  }
  auto header = rest_.validate(
      {{"connector", "rest"}, {"method", "GET"}, {"url", url("/echo")}, {"headers", {{"X-{{slot:tok}}", "v"}}}},
      context_);
  EXPECT_EQ(header.error().code, connector_errc::kPlaceholderForbidden);
  auto method = rest_.validate({{"connector", "rest"}, {"method", "{{slot:tok}}"}, {"url", url("/echo")}}, context_);
  EXPECT_EQ(method.error().code, connector_errc::kInvalidAction);
}

TEST_F(RestConnectorTest, DestinationsOutsideTheAllowListAreRefused) {
  context_.rules.hosts = {"localhost"};
  auto r = rest_.validate({{"connector", "rest"}, {"method", "GET"}, {"url", url("/ok")}}, context_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kDestinationForbidden);
  EXPECT_TRUE(rest_.validate({{"connector", "rest"}, {"method", "GET"}, {"url", url("/ok", "LOCALHOST")}}, context_));
  context_.rules.ports = {1};
  EXPECT_EQ(rest_.validate({{"connector", "rest"}, {"method", "GET"}, {"url", url("/ok", "localhost")}}, context_)
                .error()
                .code,
            connector_errc::kDestinationForbidden);
  context_.rules = {};
  EXPECT_EQ(rest_.validate({{"connector", "rest"}, {"method", "GET"}, {"url", url("/ok")}}, context_).error().code,
            connector_errc::kDestinationForbidden);
}

TEST_F(RestConnectorTest, MalformedActionsAreRefused) {
  const std::vector<json> bad = {
      {{"connector", "rest"}, {"method", "GET"}},                                                     // no url
      {{"connector", "rest"}, {"method", "GET"}, {"url", url("/ok")}, {"extra", 1}},                  // unknown key
      {{"connector", "rest"}, {"method", "TRACE"}, {"url", url("/ok")}},                              // method
      {{"connector", "rest"}, {"method", "GET"}, {"url", "http://127.0.0.1/ok"}},                     // not https
      {{"connector", "rest"}, {"method", "GET"}, {"url", "https://u:p@127.0.0.1/ok"}},                // user info
      {{"connector", "rest"}, {"method", "GET"}, {"url", url("/ok#frag")}},                           // fragment
      {{"connector", "rest"}, {"method", "GET"}, {"url", "not a url"}},                               // garbage
      {{"connector", "rest"}, {"method", "GET"}, {"url", url("/ok")}, {"headers", {{"Host", "x"}}}},  // reserved
      {{"connector", "rest"}, {"method", "GET"}, {"url", url("/ok")}, {"headers", {{"A B", "x"}}}},   // not a token
      {{"connector", "rest"}, {"method", "GET"}, {"url", url("/ok")}, {"headers", {{"A", 1}}}},       // not a string
      {{"connector", "rest"}, {"method", "GET"}, {"url", url("/ok")}, {"body", json::object()}},      // body type
      {{"connector", "rest"}, {"method", "GET"}, {"url", url("/ok?x={{slot:}}")}},                    // bad placeholder
      {{"connector", "postgres"}, {"method", "GET"}, {"url", url("/ok")}},  // another connector
  };
  for (const auto& a : bad) {
    auto r = rest_.validate(a, context_);
    ASSERT_FALSE(r) << a.dump();
    EXPECT_EQ(r.error().code, connector_errc::kInvalidAction) << a.dump();
  }
  // An unknown key is caller text that may be a pasted secret: never echoed.
  auto pasted =
      rest_.validate({{"connector", "rest"}, {"method", "GET"}, {"url", url("/ok")}, {"hunter2-token", 1}}, context_);
  ASSERT_FALSE(pasted);
  EXPECT_EQ(pasted.error().message.find("hunter2"), std::string::npos);
}

TEST_F(RestConnectorTest, AnUntrustedCertificateIsRefused) {
  context_.caFile = otherCa_ + "/ca.pem";
  auto r = runChecked({{"connector", "rest"}, {"method", "GET"}, {"url", url("/ok")}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPeerTlsFailed);
  EXPECT_EQ(peer_->requests(), 0u);
}

TEST_F(RestConnectorTest, AnOversizedAnswerIsRefusedWithoutItsBytes) {
  auto r = runChecked({{"connector", "rest"}, {"method", "GET"}, {"url", url("/bytes?n=200000")}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPeerResponseTooLarge);
  EXPECT_EQ(r.error().message.find("xxxx"), std::string::npos);
  auto fits = runChecked({{"connector", "rest"}, {"method", "GET"}, {"url", url("/bytes?n=1000")}});
  ASSERT_TRUE(fits);
  EXPECT_EQ((*fits)["body"].get<std::string>().size(), 1000u);
}

TEST_F(RestConnectorTest, AHangingPeerIsBoundedByTheTimeout) {
  context_.timeout = std::chrono::milliseconds(500);
  auto r = runChecked({{"connector", "rest"}, {"method", "GET"}, {"url", url("/hang")}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPeerTimeout);
}

TEST_F(RestConnectorTest, APeerTricklingItsHeadersIsBoundedByTheWholeActionDeadline) {
  // Each byte comes well within any per-read timeout: only the deadline on the socket ends this.
  context_.timeout = std::chrono::milliseconds(800);
  auto r = runChecked({{"connector", "rest"}, {"method", "GET"}, {"url", url("/trickle")}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPeerTimeout);
  // The connector hung up in the middle: the peer's next byte found the connection
  // closed (without the deadline the peer would finish its 30 s and see no cut).
  for (int i = 0; i < 100 && peer_->tricklesCut() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(peer_->tricklesCut(), 1u);
}

TEST_F(RestConnectorTest, RequestLineAndHeaderInjectionAreRefusedBeforeTheAttempt) {
  for (const std::string& u : {url("/ok?a HTTP/1.1\r\nHost: admin.internal\r\nX: "), url("/ok?a=\x01"),
                               url("/ok?caf\xc3\xa9"), std::string("https://127.0.0.1\0.example.com/ok", 33)}) {
    auto r = rest_.validate({{"connector", "rest"}, {"method", "GET"}, {"url", u}}, context_);
    ASSERT_FALSE(r) << u;
    EXPECT_EQ(r.error().code, connector_errc::kInvalidAction) << u;
  }
  auto header = rest_.validate(
      {{"connector", "rest"}, {"method", "GET"}, {"url", url("/ok")}, {"headers", {{"X", "a\r\nHost: evil"}}}},
      context_);
  EXPECT_EQ(header.error().code, connector_errc::kInvalidAction);
  EXPECT_EQ(peer_->requests(), 0u);
}

TEST_F(RestConnectorTest, AClosedPortIsUnreachable) {
  const std::uint16_t port = peer_->port();
  peer_.reset();
  auto r = runChecked(
      {{"connector", "rest"}, {"method", "GET"}, {"url", "https://127.0.0.1:" + std::to_string(port) + "/ok"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPeerUnreachable);
}

TEST_F(RestConnectorTest, AHeaderValueThatWouldBreakTheLineIsRefused) {
  auto crlf = Secret::copyFrom(std::string_view("abc\r\nX-Injected: 1"));
  slots_ = {{"tok", &*crlf}};
  auto r = runChecked(
      {{"connector", "rest"}, {"method", "GET"}, {"url", url("/echo")}, {"headers", {{"X-Key", "{{slot:tok}}"}}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kSecretUnusable);
  EXPECT_EQ(peer_->requests(), 0u);
}

TEST_F(RestConnectorTest, ErrorsNeverCarryTheSecret) {
  context_.timeout = std::chrono::milliseconds(300);
  for (const std::string path : {"/hang", "/bytes?n=900000"}) {
    auto r = runChecked({{"connector", "rest"},
                         {"method", "POST"},
                         {"url", url(path)},
                         {"headers", {{"X-Key", "{{slot:tok}}"}}},
                         {"body", "{{slot:tok}}"}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().describe().find("s3cr3t"), std::string::npos);
  }
}

}  // namespace
}  // namespace sealgate::connectors
