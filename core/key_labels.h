// The labels of every HSM key the appliance uses, and the one parser of the
// versioned ones. A versioned key is labelled "<prefix>-vN" (N = 1, 2, ...; no
// leading zero, at most 9 digits); the highest N present is the active one and
// rotation adds N+1 beside it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sealgate {
namespace key_labels {

// Versioned ("<prefix>-vN").
inline constexpr const char* kRefHmac = "sealgate-ref-hmac";          // HMAC: resource references
inline constexpr const char* kGrantSigning = "sealgate-grant-es256";  // ECDSA P-256: grant JWS
inline constexpr const char* kAuditSigning = "sealgate-audit-es256";  // ECDSA P-256: audit checkpoints

// Fixed.
inline constexpr const char* kKek = "sealgate-kek";  // AES-256: seals the state and KV data keys
inline constexpr const char* kTls = "sealgate-tls";  // ECDSA P-256: the listener's key (hsm.tls_key_label default)

}  // namespace key_labels

// N of "<prefix>-vN", or nothing when `label` is not a version of `prefix`.
std::optional<unsigned> parseVersionedLabel(std::string_view label, std::string_view prefix);

// "<prefix>-v<version>".
std::string versionedLabel(std::string_view prefix, unsigned version);

// The TLS key's label without its version: "<base>" for "<base>-vN", else the
// label itself (the first TLS key, e.g. "sealgate-tls", counts as version 1).
std::string tlsLabelBase(std::string_view label);

}  // namespace sealgate
