// The PEP's grant endpoints: POST /v1/authorize, POST /v1/grants/consume and
// GET /.well-known/jwks.json (API.md).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>
#include <optional>
#include <string>

#include "appliance/config/config.h"
#include "appliance/grants/grants.h"
#include "appliance/server/http_server.h"
#include "core/dpop_proof.h"
#include "core/interfaces/audit_sink.h"
#include "core/interfaces/decision_point.h"
#include "core/interfaces/state_store.h"
#include "core/resource_ref.h"

namespace sealgate::appliance {

class PepApi {
 public:
  using Clock = std::chrono::system_clock;

  PepApi(const Config& config, ResourceRefs& refs, GrantAuthority& grants, DecisionPoint& pdp, StateStore& state,
         AuditSink& audit);

  HandlerResult authorize(Request& request);
  HandlerResult consume(Request& request);
  // Mints a child grant for another identity of the same tenant (RFC 8693 act
  // chain), never wider, longer-lived or with more uses than the parent.
  HandlerResult delegate(Request& request);
  HandlerResult jwks(Request& request);

  // A grant presented by its holder, for the endpoints that spend it: verified
  // (signature, lifetime), presented by its holder with its binding (the same
  // certificate, or a DPoP proof whose jti is recorded) and issued after the
  // state. Nothing else changes.
  std::variant<GrantClaims, HttpError> verifyPresented(const Request& request, const std::string& token);
  // Takes one use of a presented grant, atomically and durably. A refusal
  // (exhausted, revoked, state unusable) is appended to the audit log as `event`
  // with the reason, and returned as the error to answer.
  std::variant<std::uint32_t, HttpError> spendOneUse(const Request& request, const GrantClaims& claims,
                                                     nlohmann::json event);

  // For tests: a fixed clock.
  void setClock(std::function<Clock::time_point()> clock) { clock_ = std::move(clock); }

 private:
  // The URL a DPoP proof must name: public_url when configured, else https://Host + path.
  std::string expectedHtu(const Request& request) const;
  Result<DpopResult> checkDpop(const Request& request, std::optional<std::string> accessToken,
                               std::optional<std::string> expectedJkt);
  HttpError dpopError(const Error& e);
  // The caller is the grant's holder and proves its binding; no state changes.
  std::optional<HttpError> checkIssuedAfterState(const GrantClaims& claims) const;
  std::optional<HttpError> checkPresentation(const Request& request, const std::string& token,
                                             const GrantClaims& claims);

  // Server nonces (RFC 9449 §8) when grants.dpop_nonce is on: the current one and
  // its predecessor are accepted; each lives `kNonceLifetime`.
  std::vector<std::string> acceptedNonces();
  std::mutex nonceMu_;
  std::string nonce_, previousNonce_;
  Clock::time_point nonceIssued_{};

  const Config& config_;
  ResourceRefs& refs_;
  GrantAuthority& grants_;
  DecisionPoint& pdp_;
  StateStore& state_;
  AuditSink& audit_;
  std::atomic<std::uint64_t> sampleCounter_{0};
  std::function<Clock::time_point()> clock_ = [] { return Clock::now(); };
};

}  // namespace sealgate::appliance
