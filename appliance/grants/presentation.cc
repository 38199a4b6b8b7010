#include "appliance/grants/presentation.h"

#include <openssl/rand.h>

#include "appliance/telemetry/logging.h"
#include "core/encoding.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

constexpr auto kNonceLifetime = std::chrono::minutes(5);
constexpr const char* kInvalidProofChallenge = "DPoP error=\"invalid_dpop_proof\", algs=\"ES256\"";
constexpr const char* kUseNonceChallenge = "DPoP error=\"use_dpop_nonce\", algs=\"ES256\"";

// What verifyDpopProof refuses a proof with; any other error is its replay
// store's (the state) failing.
bool isDpopRefusal(ErrorCode code) {
  return code == ErrorCode::DpopInvalid || code == ErrorCode::DpopReplay || code == ErrorCode::DpopNonceRequired ||
         code == ErrorCode::BindingMismatch;
}

}  // namespace

HttpError auditFailure(const Error& e) {
  logEvent(LogLevel::Error, "audit_failure", {{"error", e.describe()}});
  return HttpError{ErrorCode::AuditUnavailable, "the audit log cannot record the decision; nothing was granted"};
}

// A state store that cannot answer (tampered, rolled back, unavailable, TPM
// gone) denies with 503 and its own stable code; nothing was changed.
HttpError stateFailure(const Error& e, const std::string& correlationId, const char* nothingDone) {
  logEvent(LogLevel::Error, "state_failure", {{"correlation_id", correlationId}, {"error", e.describe()}});
  return HttpError{stateFailureCode(e.code), nothingDone};
}

// The state's refusals of a grant (not failures of the state): exhausted or
// revoked (itself or an ancestor) is 403, unknown past the pruning horizon 401.
std::optional<HttpError> grantRefusal(const Error& e) {
  if (isGrantRefusal(e.code)) return HttpError{e.code, e.message};
  return std::nullopt;
}

void markBreakGlass(json& event, const GrantClaims& claims) {
  if (claims.bg) event["breakglass"] = *claims.bg;
}

GrantPresentation::GrantPresentation(const GrantSettings& settings, GrantAuthority& grants, StateStore& state,
                                     AuditSink& audit, const BreakGlassWindows* windows)
    : settings_(settings), grants_(grants), state_(state), audit_(audit), windows_(windows) {}

std::variant<GrantClaims, HttpError> GrantPresentation::verify(const Request& request, const std::string& token) {
  auto claims = grants_.verify(token, clock_());
  if (!claims) return HttpError{claims.error().code, claims.error().message};
  if (auto err = checkBreakGlassWindow(*claims)) return *err;
  if (auto err = checkRefVersions(*claims)) return *err;
  if (auto err = checkBinding(request, token, *claims)) return *err;
  if (auto err = checkIssuedAfterState(*claims)) return *err;
  return std::move(*claims);
}

std::optional<HttpError> GrantPresentation::checkRefVersions(const GrantClaims& claims) const {
  if (refs_ == nullptr) return std::nullopt;
  for (const auto& ref : claims.res) {
    const auto version = resourceRefVersion(ref);
    if (version && refs_->retired(*version)) {
      return HttpError{ErrorCode::KeyRetired,
                       "the grant names resource_refs under a retired key version; ask for a new grant"};
    }
  }
  return std::nullopt;
}

std::variant<std::uint32_t, HttpError> GrantPresentation::spendOneUse(const Request& request, const GrantClaims& claims,
                                                                      json& event) {
  markBreakGlass(event, claims);
  // Atomically and durably; everything before this changed no state.
  auto remaining = state_.takeUses(StateStore::UseRequest{
      claims.jti, 1, claims.maxUses, grantStateKeepUntil(claims.exp), claims.anc, bindingOf(claims)});
  if (remaining) return *remaining;
  const Error& e = remaining.error();
  json refusal = event;
  refusal["decision"] = "deny";
  refusal["reason"] = e.code;
  refusal["outcome"] = e.code;
  if (auto logged = audit_.append(refusal.dump()); !logged) return auditFailure(logged.error());
  if (auto refused = grantRefusal(e)) return *refused;
  return stateFailure(e, request.correlationId, "use counts cannot be updated; nothing was consumed");
}

std::variant<std::optional<std::string>, HttpError> GrantPresentation::proofKey(const Request& request) {
  if (request.dpop.empty()) return std::optional<std::string>{};
  auto proof = checkDpop(request, std::nullopt, std::nullopt);
  if (!proof) return dpopError(proof.error());
  return std::optional<std::string>{proof->jkt};
}

// Only the holder may present it, over its bound certificate or with its DPoP key;
// a delegated grant without cnf is bound to its holder's mTLS identity alone.
std::optional<HttpError> GrantPresentation::checkBinding(const Request& request, const std::string& token,
                                                         const GrantClaims& claims) {
  if (claims.holder() != request.identity.spiffeId) {
    return HttpError{ErrorCode::BindingMismatch, "the grant is bound to another identity"};
  }
  if (claims.cnfX5t) {
    if (!constantTimeEquals(asBytes(*claims.cnfX5t), asBytes(request.identity.certThumbprint))) {
      return HttpError{ErrorCode::BindingMismatch, "the grant is bound to another certificate"};
    }
    return std::nullopt;
  }
  if (!claims.cnfJkt) return std::nullopt;
  if (request.dpop.empty()) {
    HttpError err{ErrorCode::DpopInvalid, "this grant is DPoP-bound: send a DPoP proof"};
    err.headers["WWW-Authenticate"] = kInvalidProofChallenge;
    return err;
  }
  auto proof = checkDpop(request, token, claims.cnfJkt);
  if (proof) return std::nullopt;
  if (proof.error().code == ErrorCode::BindingMismatch)
    return HttpError{ErrorCode::BindingMismatch, proof.error().message};
  return dpopError(proof.error());
}

// A grant issued in a break-glass window is good only while that window is
// open; without windows configured none is.
std::optional<HttpError> GrantPresentation::checkBreakGlassWindow(const GrantClaims& claims) const {
  if (!claims.bg) return std::nullopt;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(clock_().time_since_epoch()).count();
  if (windows_ != nullptr && windows_->windowOpen(*claims.bg, now)) return std::nullopt;
  return HttpError{ErrorCode::BreakglassWindowClosed,
                   "the break-glass window this grant was issued in is no longer open; authorize again"};
}

std::optional<HttpError> GrantPresentation::checkIssuedAfterState(const GrantClaims& claims) const {
  // After the state was re-initialised it knows nothing of older grants' uses.
  if (Clock::time_point(std::chrono::seconds(claims.iat)) < state_.grantsIssuedFrom()) {
    return HttpError{ErrorCode::GrantPredatesState,
                     "the grant was issued before the state was initialised; authorize again"};
  }
  return std::nullopt;
}

// The URL a DPoP proof must name comes from configuration only (the listener's
// pep.public_url, or its listen address in development mode), never from the
// request's Host header; with none configured no proof can match.
Result<DpopResult> GrantPresentation::checkDpop(const Request& request, std::optional<std::string> accessToken,
                                                std::optional<std::string> expectedJkt) {
  const std::string htu = request.publicBase.empty() ? std::string() : request.publicBase + request.path;
  DpopCheck check{request.dpop,
                  request.method,
                  htu,
                  std::move(accessToken),
                  std::move(expectedJkt),
                  settings_.dpopNonce ? acceptedNonces() : std::vector<std::string>{}};
  DpopPolicy policy;
  policy.maxAge = settings_.dpopIatWindow;
  return verifyDpopProof(check, policy, state_, clock_());
}

HttpError GrantPresentation::dpopError(const Error& e) {
  if (!isDpopRefusal(e.code)) return stateFailure(e, "", "the DPoP proof's jti cannot be recorded; nothing was done");
  HttpError err{e.code, e.message};
  if (e.code == ErrorCode::DpopNonceRequired) {
    err.headers["DPoP-Nonce"] = acceptedNonces().front();
    err.headers["WWW-Authenticate"] = kUseNonceChallenge;
  } else if (e.code == ErrorCode::DpopInvalid || e.code == ErrorCode::DpopReplay) {
    err.headers["WWW-Authenticate"] = kInvalidProofChallenge;
  }
  return err;
}

std::vector<std::string> GrantPresentation::acceptedNonces() {
  std::lock_guard lock(nonceMu_);
  const auto now = clock_();
  if (nonce_.empty() || now - nonceIssued_ >= kNonceLifetime) {
    previousNonce_ = nonce_;
    std::uint8_t raw[16];
    RAND_bytes(raw, sizeof raw);
    nonce_ = base64UrlNoPad(raw);
    nonceIssued_ = now;
  }
  return previousNonce_.empty() ? std::vector<std::string>{nonce_} : std::vector<std::string>{nonce_, previousNonce_};
}

}  // namespace sealgate::appliance
