// Grants (DESIGN.md, "Grants"): compact JWS ES256 tokens signed inside the HSM
// with sealgate-grant-es256-vN. One grant covers every allowed item of an
// authorize request; it is bound to the caller's certificate (cnf.x5t#S256) or
// DPoP key (cnf.jkt).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/encoding.h"
#include "core/result.h"
#include "hsm/key_store.h"

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
  nlohmann::json obl = nlohmann::json::object();  // per resource_ref obligations
  nlohmann::json act;                             // RFC 8693 delegation chain, null when none

  nlohmann::json toJson() const;
  static Result<GrantClaims> fromJson(const nlohmann::json& claims);
  // The identity that may present the grant: act.sub when delegated, else sub.
  std::string holder() const;
};

// Error codes of grant verification (API.md).
namespace grant_errc {
inline constexpr const char* kInvalid = "GRANT_INVALID";
inline constexpr const char* kExpired = "GRANT_EXPIRED";
}  // namespace grant_errc

class GrantAuthority {
 public:
  // Loads every sealgate-grant-es256-vN public key; signs with the highest N.
  static Result<std::unique_ptr<GrantAuthority>> load(hsm::KeyStore& keys, std::string issuer);

  Result<std::string> sign(const GrantClaims& claims);
  // Signature (by any loaded kid), typ, iss, aud, nbf/exp (with `leeway`).
  Result<GrantClaims> verify(std::string_view token, std::chrono::system_clock::time_point now,
                             std::chrono::seconds leeway = std::chrono::seconds(5)) const;
  nlohmann::json jwks() const;
  const std::string& activeKid() const { return activeKid_; }
  const std::string& issuer() const { return issuer_; }

 private:
  struct Key {
    std::string label;
    Bytes spki;
    nlohmann::json jwk;
  };
  GrantAuthority(hsm::KeyStore& keys, std::string issuer) : keys_(keys), issuer_(std::move(issuer)) {}
  hsm::KeyStore& keys_;
  std::string issuer_;
  std::map<std::string, Key> byKid_;
  std::string activeKid_;
};

}  // namespace sealgate::appliance
