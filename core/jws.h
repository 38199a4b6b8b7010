// Compact JWS (RFC 7515) with ES256, and EC P-256 JWKs (RFC 7517/7638): what
// grants and DPoP proofs are made of. Parsing is strict and never throws.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "core/encoding.h"
#include "core/result.h"

namespace sealgate {

namespace jws_errc {
inline constexpr ErrorCode kMalformed = ErrorCode::JwsMalformed;
inline constexpr ErrorCode kJwkInvalid = ErrorCode::JwkInvalid;
inline constexpr ErrorCode kJwkPrivate = ErrorCode::JwkPrivateKey;
}  // namespace jws_errc

struct CompactJws {
  nlohmann::json header;     // a JSON object
  nlohmann::json payload;    // a JSON object
  std::string signingInput;  // BASE64URL(header) "." BASE64URL(payload)
  Bytes signature;
};

// Exactly three unpadded base64url segments; header and payload JSON objects.
Result<CompactJws> parseCompactJws(std::string_view token, std::size_t maxBytes = 16384);

struct EcPublicJwk {
  Bytes x;  // 32 bytes
  Bytes y;  // 32 bytes
};

// kty EC, crv P-256, a point on the curve; private members refused.
Result<EcPublicJwk> parseEcP256Jwk(const nlohmann::json& jwk);
// RFC 7638 thumbprint: base64url(SHA-256({"crv":"P-256","kty":"EC","x":..,"y":..})).
std::string jwkThumbprint(const EcPublicJwk& jwk);
// DER SubjectPublicKeyInfo of the key.
Bytes ecP256Spki(const EcPublicJwk& jwk);

// ES256 over `signingInput` with a raw r||s signature (64 bytes), as JWS uses it.
bool verifyEs256(const EcPublicJwk& key, std::string_view signingInput, std::span<const std::uint8_t> rawSignature);
bool verifyEs256Spki(std::span<const std::uint8_t> spkiDer, std::string_view signingInput,
                     std::span<const std::uint8_t> rawSignature);

}  // namespace sealgate
