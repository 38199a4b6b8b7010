// A grant presented by its holder to an endpoint that spends it (consume,
// delegate, execute): verified (signature, lifetime, its break-glass window
// still open), presented by its holder with its binding (the same certificate,
// or a DPoP proof whose jti is recorded) and issued after the state; then one
// use (or a parent's reservation) taken, atomically and durably. The DPoP checks
// and server nonces live here too, so a nonce issued by one endpoint is accepted
// by every other.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "appliance/config/config.h"
#include "appliance/grants/grants.h"
#include "appliance/server/http_server.h"
#include "core/dpop_proof.h"
#include "core/interfaces/audit_sink.h"
#include "core/interfaces/breakglass_windows.h"
#include "core/interfaces/state_store.h"
#include "core/resource_ref.h"

namespace sealgate::appliance {

// Answers shared by the grant endpoints: the audit log or the state failing
// (503, logged with the cause), and the state's refusals of a grant.
HttpError auditFailure(const Error& e);
HttpError stateFailure(const Error& e, const std::string& correlationId, const char* nothingDone);
std::optional<HttpError> grantRefusal(const Error& e);
// Marks an event about a grant issued in a break-glass window with the window's
// id (`breakglass`); an event about any other grant is left as it is.
void markBreakGlass(nlohmann::json& event, const GrantClaims& claims);

class GrantPresentation {
 public:
  using Clock = std::chrono::system_clock;

  // `windows` null: no break-glass; a grant carrying a `bg` claim is refused.
  GrantPresentation(const GrantSettings& settings, GrantAuthority& grants, StateStore& state, AuditSink& audit,
                    const BreakGlassWindows* windows = nullptr);

  // The grant `token` as presented on `request`: verified, its break-glass
  // window (`bg`) open (else BREAKGLASS_WINDOW_CLOSED), its holder and binding
  // checked, issued after the state. Nothing changes but a DPoP proof's jti.
  std::variant<GrantClaims, HttpError> verify(const Request& request, const std::string& token);
  // Takes one use of a presented grant, atomically and durably; returns what
  // remains. `event` (the caller's audit event of the use) is marked with the
  // grant's break-glass window (markBreakGlass). A refusal (exhausted, revoked,
  // state unusable) is appended to the audit log as a copy of `event` with the
  // reason, and returned as the error to answer.
  std::variant<std::uint32_t, HttpError> spendOneUse(const Request& request, const GrantClaims& claims,
                                                     nlohmann::json& event);
  // The DPoP key a request that presents no grant proves (authorize binds its
  // grant to it); nullopt without a DPoP header.
  std::variant<std::optional<std::string>, HttpError> proofKey(const Request& request);

  // The resource_ref keys whose retirement makes a grant naming refs under them
  // unusable (KEY_RETIRED); set once, before requests are served.
  void checkRefVersionsWith(const ResourceRefs& refs) { refs_ = &refs; }

  // For tests: a fixed clock.
  void setClock(std::function<Clock::time_point()> clock) { clock_ = std::move(clock); }
  Clock::time_point now() const { return clock_(); }

 private:
  Result<DpopResult> checkDpop(const Request& request, std::optional<std::string> accessToken,
                               std::optional<std::string> expectedJkt);
  HttpError dpopError(const Error& e);
  std::optional<HttpError> checkBinding(const Request& request, const std::string& token, const GrantClaims& claims);
  std::optional<HttpError> checkIssuedAfterState(const GrantClaims& claims) const;
  std::optional<HttpError> checkBreakGlassWindow(const GrantClaims& claims) const;
  std::optional<HttpError> checkRefVersions(const GrantClaims& claims) const;
  const ResourceRefs* refs_ = nullptr;

  // Server nonces (RFC 9449 §8) when grants.dpop_nonce is on: the current one and
  // its predecessor are accepted; each lives five minutes.
  std::vector<std::string> acceptedNonces();
  std::mutex nonceMu_;
  std::string nonce_, previousNonce_;
  Clock::time_point nonceIssued_{};

  const GrantSettings& settings_;
  GrantAuthority& grants_;
  StateStore& state_;
  AuditSink& audit_;
  const BreakGlassWindows* windows_;
  std::function<Clock::time_point()> clock_ = [] { return Clock::now(); };
};

}  // namespace sealgate::appliance
