// KvApi error paths that the e2e tests cannot provoke on a healthy daemon: an
// audit sink that cannot record (nothing is changed or revealed) and a KV store
// that did not open (503 PROVIDER_UNAVAILABLE). Real SoftHSM2, real store, real
// policy; the failing audit sink is the injected fault.
#include "appliance/kv/kv_api.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "appliance/keys/data_key_sealer.h"
#include "tests/support/temp_token.h"

namespace sealgate::appliance {
namespace {

using nlohmann::json;

class SwitchableAudit : public AuditSink {
 public:
  Result<std::uint64_t> append(const std::string& e) override {
    if (down) return makeError(ErrorCode::AuditIo, "injected: the disk is full");
    events.push_back(json::parse(e));
    return static_cast<std::uint64_t>(events.size());
  }
  bool healthy() const override { return !down; }
  bool down = false;
  std::vector<json> events;
};

struct Fixture {
  Fixture() {
    keys = testing::openFreshToken("kv-api-test");
    if (!keys->generateAes256Key("sealgate-kek") || !keys->generateHmacKey("sealgate-ref-hmac-v1")) std::abort();
    char tmpl[] = "/tmp/sealgate-kvapi-XXXXXX";
    dir = ::mkdtemp(tmpl);
    sealer = std::make_unique<HsmTpmDataKeySealer>(*keys, "sealgate-kek", nullptr, std::vector<unsigned>{});
    auto s = providers::KvStore::open(providers::KvStoreSettings{dir + "/kv", {{"acme", {"kv"}}}}, *sealer);
    if (!s) std::abort();
    store = std::move(*s);
    mac = std::make_unique<hsm::HsmRefMac>(*keys, 1);
    refs = std::make_unique<ResourceRefs>(*mac, 100);
    pdp =
        std::make_unique<EmbeddedPolicyDecisionPoint>(std::make_shared<const Policy>(*Policy::parse(devPolicyJson())));
    api = std::make_unique<KvApi>(store.get(), "acme", *refs, *pdp, audit);
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
  Request req(const std::string& method, const std::string& rest, json body = json::object(),
              const std::string& role = "admin") {
    Request r;
    r.method = method;
    r.pathParam = rest;
    r.body = std::move(body);
    r.identity.kind = IdentityKind::Admin;
    r.identity.role = role;
    r.identity.name = role;
    r.identity.spiffeId = "spiffe://sealgate-admin/" + role + "/" + role;
    r.correlationId = "c1";
    return r;
  }
  std::unique_ptr<hsm::KeyStore> keys;
  std::string dir;
  std::unique_ptr<HsmTpmDataKeySealer> sealer;
  std::unique_ptr<providers::KvStore> store;
  std::unique_ptr<hsm::HsmRefMac> mac;
  std::unique_ptr<ResourceRefs> refs;
  std::unique_ptr<EmbeddedPolicyDecisionPoint> pdp;
  SwitchableAudit audit;
  std::unique_ptr<KvApi> api;
};

Fixture& fx() {
  static Fixture f;
  return f;
}

int statusOf(const HandlerResult& r) {
  if (auto* e = std::get_if<HttpError>(&r)) return e->status;
  return std::get<Response>(r).status;
}
std::string codeOf(const HandlerResult& r) {
  auto* e = std::get_if<HttpError>(&r);
  return e ? errorCodeName(e->code) : "";
}

TEST(KvApi, WritesAndRevealsAreAuditedWithResourceRefsOnly) {
  auto& f = fx();
  auto w = f.req("POST", "kv/data/app/audited", json{{"data", {{"k", "value-xyz"}}}});
  ASSERT_EQ(statusOf(f.api->handle(w)), 200);
  auto r = f.req("GET", "kv/data/app/audited");
  auto read = f.api->handle(r);
  ASSERT_EQ(statusOf(read), 200);
  EXPECT_EQ(std::get<Response>(read).body["data"]["data"]["k"], "value-xyz");
  ASSERT_GE(f.audit.events.size(), 2u);
  const json& reveal = f.audit.events.back();
  EXPECT_EQ(reveal["type"], "kv_reveal");
  EXPECT_EQ(reveal["kv_version"], 1);
  EXPECT_EQ(reveal["resource_ref"].get<std::string>().rfind("rr1:v1:", 0), 0u);
  for (const auto& e : f.audit.events) {
    EXPECT_EQ(e.dump().find("value-xyz"), std::string::npos);
    EXPECT_EQ(e.dump().find("app/audited"), std::string::npos);
  }
}

TEST(KvApi, AnAuditLogThatCannotRecordChangesNothingAndRevealsNothing) {
  auto& f = fx();
  auto w = f.req("POST", "kv/data/app/noaudit", json{{"data", {{"k", "v1"}}}});
  ASSERT_EQ(statusOf(f.api->handle(w)), 200);
  f.audit.down = true;
  for (auto [method, rest, body] : std::vector<std::tuple<std::string, std::string, json>>{
           {"POST", "kv/data/app/noaudit", json::parse(R"({"data":{"k":"v2"}})")},
           {"DELETE", "kv/data/app/noaudit", json::object()},
           {"POST", "kv/destroy/app/noaudit", json::parse(R"({"versions":[1]})")},
           {"POST", "kv/metadata/app/noaudit", json::parse(R"({"max_versions":1})")},
           {"DELETE", "kv/metadata/app/noaudit", json::object()},
           {"POST", "kv/config", json::parse(R"({"cas_required":true})")},
           {"GET", "kv/data/app/noaudit", json::object()}}) {
    auto req = f.req(method, rest, body);
    auto out = f.api->handle(req);
    EXPECT_EQ(statusOf(out), 503) << method << " " << rest;
    EXPECT_EQ(codeOf(out), "AUDIT_UNAVAILABLE") << method << " " << rest;
  }
  f.audit.down = false;
  auto meta = f.store->metadata({"acme", "kv", "app/noaudit"});
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->currentVersion, 1u);
  EXPECT_EQ(meta->maxVersions, 0u);
  EXPECT_FALSE(meta->versions.at(1).destroyed);
  EXPECT_FALSE(meta->versions.at(1).deletionTime.has_value());
  EXPECT_FALSE(f.store->mountConfig("acme", "kv")->casRequired);
}

TEST(KvApi, RolesAndReveal) {
  auto& f = fx();
  auto w = f.req("POST", "kv/data/app/roles", json{{"data", {{"k", "v"}}}});
  ASSERT_EQ(statusOf(f.api->handle(w)), 200);
  auto aud = f.req("GET", "kv/data/app/roles", json::object(), "auditor");
  EXPECT_EQ(codeOf(f.api->handle(aud)), "FORBIDDEN");
  auto appr = f.req("GET", "kv/metadata/app/roles", json::object(), "approver");
  EXPECT_EQ(codeOf(f.api->handle(appr)), "FORBIDDEN");
  auto audMeta = f.req("GET", "kv/metadata/app/roles", json::object(), "auditor");
  EXPECT_EQ(statusOf(f.api->handle(audMeta)), 200);
  // an admin whose name the policy's reveal rule does not cover (it covers admin/*, so use another role path)
  f.pdp->replace(std::make_shared<const Policy>(*Policy::parse(R"({"version":1,"rules":[]})")));
  auto denied = f.req("GET", "kv/data/app/roles");
  auto out = f.api->handle(denied);
  EXPECT_EQ(statusOf(out), 403);
  EXPECT_EQ(codeOf(out), "REVEAL_DENIED");
  EXPECT_EQ(f.audit.events.back()["decision"], "deny");
  f.pdp->replace(std::make_shared<const Policy>(*Policy::parse(devPolicyJson())));
}

TEST(KvApi, AStoreThatDidNotOpenIsProviderUnavailable) {
  auto& f = fx();
  KvApi closed(nullptr, "acme", *f.refs, *f.pdp, f.audit);
  for (const char* rest : {"kv/data/app/x", "kv/metadata/app/x", "kv/config"}) {
    auto r = f.req("GET", rest);
    auto out = closed.handle(r);
    EXPECT_EQ(statusOf(out), 503) << rest;
    EXPECT_EQ(codeOf(out), "PROVIDER_UNAVAILABLE") << rest;
  }
}

TEST(KvApi, EveryErrorResponseNamesItsCodeInTheHeader) {
  // Errors as HttpError get X-Sealgate-Error from the HTTP layer; the Vault-shaped
  // 404s the handler builds itself (bare {"errors":[]} or a body with metadata)
  // must carry it too (the metadata and list 404s once did not).
  auto& f = fx();
  auto w = f.req("POST", "kv/data/app/hdr", json{{"data", {{"k", "v"}}}});
  ASSERT_EQ(statusOf(f.api->handle(w)), 200);
  auto del = f.req("DELETE", "kv/data/app/hdr");
  ASSERT_EQ(statusOf(f.api->handle(del)), 204);
  struct Case {
    const char* method;
    const char* rest;
    const char* query;
    const char* code;
  } cases[] = {{"GET", "kv/data/app/missing", "", "NOT_FOUND"},
               {"GET", "kv/metadata/app/missing", "", "NOT_FOUND"},
               {"LIST", "kv/metadata/nothing-here/", "", "NOT_FOUND"},
               {"GET", "kv/metadata/nothing-here/", "list=true", "NOT_FOUND"},
               {"GET", "kv/data/app/hdr", "", "VERSION_DELETED"}};
  for (const auto& c : cases) {
    auto r = f.req(c.method, c.rest);
    r.query = c.query;
    auto out = f.api->handle(r);
    ASSERT_EQ(statusOf(out), 404) << c.method << " " << c.rest;
    if (auto* resp = std::get_if<Response>(&out)) {
      auto h = resp->headers.find("X-Sealgate-Error");
      ASSERT_NE(h, resp->headers.end()) << c.method << " " << c.rest << "?" << c.query;
      EXPECT_EQ(h->second, c.code);
    } else {
      EXPECT_EQ(codeOf(out), c.code);
    }
  }
}

}  // namespace
}  // namespace sealgate::appliance
