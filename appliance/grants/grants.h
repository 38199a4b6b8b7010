// Grants (docs/DESIGN.md, "Grants"): compact JWS ES256 tokens signed inside the HSM
// with sealgate-grant-es256-vN. One grant covers every allowed item of an
// authorize request; it is bound to the caller's certificate (cnf.x5t#S256) or
// DPoP key (cnf.jkt).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/encoding.h"
#include "core/interfaces/state_store.h"
#include "core/result.h"

namespace sealgate::appliance {

inline constexpr const char* kGrantType = "sealgate-grant+jwt";

struct GrantClaims {
  std::string iss;
  std::string aud;
  std::string sub;  // the caller's SPIFFE ID
  std::string jti;  // the grant id
  std::string decisionId;
  std::int64_t iat = 0;
  std::int64_t nbf = 0;
  std::int64_t exp = 0;
  std::optional<std::string> cnfJkt;  // DPoP-bound
  std::optional<std::string> cnfX5t;  // mTLS-bound (x5t#S256)
  std::vector<std::string> res;       // resource_refs, one per allowed item
  std::uint32_t maxUses = 1;
  // What the grant allows on each resource: {resource_ref: {action: obligations}}.
  // Every resource in `res` has at least one action; the endpoints that spend a
  // grant require the action they perform (`use`).
  nlohmann::json obl = nlohmann::json::object();
  nlohmann::json act;            // RFC 8693 delegation chain, null when none
  std::vector<std::string> anc;  // delegation ancestry: the grant ids above this one, root first
  // The break-glass window the grant was issued in (docs/BREAKGLASS.md): it is
  // refused once that window is no longer open. Delegated children inherit it.
  std::optional<std::string> bg;

  nlohmann::json toJson() const;
  static Result<GrantClaims> fromJson(const nlohmann::json& claims);
  // The identity that may present the grant: act.sub when delegated, else sub.
  std::string holder() const;
  // The obligations under which `action` is allowed on `resourceRef`; null when
  // the grant does not allow it.
  const nlohmann::json* allowed(const std::string& resourceRef, const std::string& action) const;
  // The resources on which `action` is allowed.
  std::vector<std::string> resourcesAllowing(const std::string& action) const;
};

// How `claims` binds the grant to its holder, as the state records it.
inline StateStore::GrantBinding bindingOf(const GrantClaims& claims) {
  if (claims.cnfJkt) return StateStore::GrantBinding::Dpop;
  return claims.cnfX5t ? StateStore::GrantBinding::Mtls : StateStore::GrantBinding::Unknown;
}

// The action that spending a grant performs (consume, execute, delegate).
inline constexpr const char* kUseAction = "use";

// Grants verify until `exp` plus this leeway.
inline constexpr std::chrono::seconds kGrantClockLeeway{5};
// How long the state about a grant (its uses, its revocation) must be kept: past
// every instant at which it can still verify (docs/STATE.md).
std::chrono::system_clock::time_point grantStateKeepUntil(std::int64_t exp);

// Error codes of grant verification (API.md).
namespace grant_errc {
inline constexpr ErrorCode kInvalid = ErrorCode::GrantInvalid;
inline constexpr ErrorCode kExpired = ErrorCode::GrantExpired;
inline constexpr ErrorCode kActionNotGranted = ErrorCode::ActionNotGranted;
}  // namespace grant_errc

// The grant-signing keys (sealgate-grant-es256-vN) as the HSM holds them;
// keys/signing_keys.h reads them from the key store.
struct GrantSigningKeys {
  struct Version {
    unsigned number = 0;
    std::string label;
    Bytes spkiDer;
  };
  std::vector<Version> versions;
  // ES256 inside the HSM: r || s over `signingInput`, with the key `label`.
  std::function<Result<Bytes>(const std::string& label, std::span<const std::uint8_t> signingInput)> sign;
};

class GrantAuthority {
 public:
  // Verifies with every version; signs with the highest.
  static Result<std::unique_ptr<GrantAuthority>> load(GrantSigningKeys keys, std::string issuer);

  Result<std::string> sign(const GrantClaims& claims);
  // Signature (by any loaded, unretired kid: a retired one is KEY_RETIRED), typ,
  // iss, aud, nbf/exp (with `leeway`).
  Result<GrantClaims> verify(std::string_view token, std::chrono::system_clock::time_point now,
                             std::chrono::seconds leeway = kGrantClockLeeway) const;
  // The unretired keys.
  nlohmann::json jwks() const;
  std::string activeKid() const;
  std::string activeLabel() const;  // the HSM label of the signing version
  const std::string& issuer() const { return issuer_; }

  // Key rotation (docs/RUNBOOK.md, "Key rotation"), safe while grants are signed
  // and verified. reload() takes the versions the HSM now holds: the highest
  // signs from then on, every other one still verifies. retire() stops a version
  // verifying: KEY_UNKNOWN for a label not loaded, KEY_ACTIVE for the signing one.
  Result<void> reload(GrantSigningKeys keys);
  Result<void> retire(const std::string& label);
  // The label of every loaded version, and whether it is retired.
  std::map<std::string, bool> labels() const;

 private:
  // NOLINTNEXTLINE(bugprone-exception-escape): holds an nlohmann::json (see server/http_server.h's Request)
  struct Key {
    std::string label;
    Bytes spki;
    nlohmann::json jwk;
    bool retired = false;
  };
  struct KeySet {
    std::map<std::string, Key> byKid;
    std::string activeKid;
  };
  GrantAuthority(std::string issuer) : issuer_(std::move(issuer)) {}
  std::shared_ptr<const KeySet> keySet() const;

  std::string issuer_;
  mutable std::mutex mu_;  // guards keySet_ and sign_; a KeySet is never changed once published
  std::shared_ptr<const KeySet> keySet_;
  std::function<Result<Bytes>(const std::string& label, std::span<const std::uint8_t> signingInput)> sign_;
};

}  // namespace sealgate::appliance
