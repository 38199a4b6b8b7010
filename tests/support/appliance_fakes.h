// Fakes of the appliance's dependencies for unit tests of the logic above them
// (grants/, execute/): a software HMAC standing in for the HSM's resource_ref
// key, an in-memory P-256 key for the grant key, a scripted decision point, the
// in-memory StateStore with failures switched on, an audit sink that records or
// refuses, a secret provider over a map, and a connector that reports what it
// was given. The e2e suite (tests/e2e) runs the real HSM, PDP, sealed state,
// audit log, providers and connectors; these let a unit test reach every refusal
// and every failure of a dependency directly.
#pragma once

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "appliance/grants/grants.h"
#include "appliance/server/http_server.h"
#include "core/interfaces/audit_sink.h"
#include "core/interfaces/connector.h"
#include "core/interfaces/decision_point.h"
#include "core/interfaces/secret_provider.h"
#include "core/openssl_ptr.h"
#include "core/resource_ref.h"
#include "tests/support/memory_state_store.h"

namespace sealgate::appliance::testing::fakes {

using nlohmann::json;
using Clock = std::chrono::system_clock;

class SoftwareMac : public KeyedMac {
 public:
  bool failing = false;
  Result<Mac256> mac(std::string_view data) override {
    if (failing) return makeError(ErrorCode::HsmUnavailable, "the test MAC is failing");
    static const std::uint8_t kKey[32] = {7};
    Mac256 out{};
    unsigned len = 0;
    HMAC(EVP_sha256(), kKey, sizeof kKey, reinterpret_cast<const std::uint8_t*>(data.data()), data.size(), out.data(),
         &len);
    return out;
  }
  unsigned keyVersion() const override { return 1; }
};

// ES256 with an in-memory key: r || s, as the HSM returns it.
class SoftwareGrantKey {
 public:
  bool failing = false;
  SoftwareGrantKey() : key_(EVP_EC_gen("P-256")) {}

  GrantSigningKeys keys() {
    unsigned char* der = nullptr;
    const int n = i2d_PUBKEY(key_.get(), &der);
    Bytes spki(der, der + n);
    OPENSSL_free(der);
    GrantSigningKeys k;
    k.versions.push_back({1, "sealgate-grant-es256-v1", spki});
    k.sign = [this](const std::string&, std::span<const std::uint8_t> input) -> Result<Bytes> {
      if (failing) return makeError(ErrorCode::HsmUnavailable, "the test signer is failing");
      EvpMdCtxPtr ctx(EVP_MD_CTX_new());
      std::size_t len = 0;
      if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
          EVP_DigestSign(ctx.get(), nullptr, &len, input.data(), input.size()) != 1) {
        return makeError(ErrorCode::HsmUnavailable, "signing failed");
      }
      Bytes der(len);
      EVP_DigestSign(ctx.get(), der.data(), &len, input.data(), input.size());
      const unsigned char* p = der.data();
      EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)));
      Bytes raw(64);
      BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw.data(), 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw.data() + 32, 32);
      return raw;
    };
    return k;
  }

 private:
  EvpPkeyPtr key_;
};

class ScriptedPdp : public DecisionPoint {
 public:
  bool available = true;
  bool allow = true;
  bool answerNothing = false;
  std::string obligations = "{}";
  int calls = 0;
  std::chrono::milliseconds lastTimeout{0};
  Result<std::vector<Decision>> decide(const DecisionSubject&, const std::vector<DecisionRequest>& requests,
                                       std::chrono::milliseconds timeout) override {
    ++calls;
    lastTimeout = timeout;
    if (!available) return makeError(ErrorCode::PdpUnavailable, "the test PDP is down");
    std::vector<Decision> out;
    if (answerNothing) return out;
    for (const auto& r : requests) {
      Decision d;
      d.index = r.index;
      d.allow = allow;
      d.reason = allow ? "" : "POLICY_DENIED";
      d.obligationsJson = obligations;
      out.push_back(d);
    }
    return out;
  }
};

class RecordingAudit : public AuditSink {
 public:
  bool failing = false;
  std::vector<json> events;
  Result<std::uint64_t> append(const std::string& eventJson) override {
    if (failing) return makeError(ErrorCode::AuditUnavailable, "the test audit log is failing");
    events.push_back(json::parse(eventJson));
    return events.size();
  }
  bool healthy() const override { return !failing; }
};

class ControllableState : public MemoryStateStore {
 public:
  std::optional<Error> useFailure;  // every takeUses fails with it
  Clock::time_point issuedFrom{};
  int useCalls = 0;
  using MemoryStateStore::takeUses;
  Result<std::uint32_t> takeUses(const UseRequest& use) override {
    ++useCalls;
    if (useFailure) return *useFailure;
    return MemoryStateStore::takeUses(use);
  }
  Clock::time_point grantsIssuedFrom() const override { return issuedFrom; }
};

// A provider over a map of canonical URI -> value.
class MapSecrets : public SecretProvider {
 public:
  std::map<std::string, std::string> values;
  std::optional<Error> failure;  // every fetch fails with it
  int fetches = 0;
  using SecretProvider::fetch;
  Result<FetchedSecret> fetch(const SecretUri& uri, std::optional<std::uint32_t>, const FetchContext&) override {
    ++fetches;
    if (failure) return *failure;
    auto it = values.find(uri.canonical());
    if (it == values.end()) return makeError(provider_errc::kNotFound, "no such secret");
    auto value = Secret::copyFrom(it->second);
    if (!value) return std::move(value).takeError();
    FetchedSecret out{std::move(*value), {}};
    out.metadata.kvVersion = 1;
    return out;
  }
  bool healthy() const override { return !failure; }
};

// A connector whose action lists the slots it uses ("uses": [names]); run()
// records what it was given and answers `answer`, or each slot's value when
// `echoSlots` (to see the scrub at work).
class ReportingConnector : public Connector {
 public:
  explicit ReportingConnector(std::string name) : name_(std::move(name)) {}
  std::optional<Error> refusal;  // validate() fails with it
  std::optional<Error> failure;  // run() fails with it
  json answer = {{"status", 200}};
  bool echoSlots = false;
  std::map<std::string, std::string> seen;  // slot -> the value run() got
  int runs = 0;

  std::string name() const override { return name_; }
  Result<std::set<std::string>> validate(const json& action, const ConnectorContext&) const override {
    if (refusal) return *refusal;
    std::set<std::string> uses;
    for (const auto& u : action.value("uses", json::array())) uses.insert(u.get<std::string>());
    return uses;
  }
  Result<json> run(const json&, const ConnectorContext&, const SlotValues& slots) override {
    ++runs;
    json out = answer;
    for (const auto& [slot, value] : slots) {
      const auto bytes = value->exposeSecretBytes();
      seen[slot] = std::string(bytes.begin(), bytes.end());
      if (echoSlots) out["echo"][slot] = seen[slot];
    }
    if (failure) return *failure;
    return out;
  }

 private:
  std::string name_;
};

inline Identity service(const std::string& name, const std::string& thumbprint) {
  Identity id;
  id.kind = IdentityKind::Service;
  id.spiffeId = "spiffe://acme/" + name;
  id.tenant = "acme";
  id.service = name;
  id.certThumbprint = thumbprint;
  return id;
}

inline std::string codeOf(const HandlerResult& r) {
  if (const auto* err = std::get_if<HttpError>(&r)) return std::string(errorCodeName(err->code));
  return "200";
}
inline std::string describe(const HandlerResult& r) {
  if (const auto* err = std::get_if<HttpError>(&r)) return std::string(errorCodeName(err->code)) + ": " + err->message;
  return std::get<Response>(r).body.dump();
}
inline int statusOf(const HandlerResult& r) {
  if (const auto* err = std::get_if<HttpError>(&r)) return err->status;
  return std::get<Response>(r).status;
}

}  // namespace sealgate::appliance::testing::fakes
