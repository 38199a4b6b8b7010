// SecretProvider: fetches secret material for a canonical URI into a Secret.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/result.h"
#include "core/secret.h"
#include "core/secret_uri.h"

namespace sealgate {

// Error codes every SecretProvider uses (API.md). Callers deny access on any of
// them; PROVIDER_UNAVAILABLE is a 503 (fail closed), the others are 404s.
namespace provider_errc {
inline constexpr ErrorCode kNotFound = ErrorCode::NotFound;                  // no such path, field or version
inline constexpr ErrorCode kVersionDeleted = ErrorCode::VersionDeleted;      // soft-deleted (undelete brings it back)
inline constexpr ErrorCode kVersionDestroyed = ErrorCode::VersionDestroyed;  // destroyed: the data is gone
inline constexpr ErrorCode kUnavailable = ErrorCode::ProviderUnavailable;    // the backend cannot answer now
}  // namespace provider_errc

// The boundary between a provider's failure and the API: its own refusals
// (NOT_FOUND, VERSION_DELETED, VERSION_DESTROYED, PROVIDER_UNAVAILABLE) stand;
// anything else (a store that failed an integrity check, a file provider's
// refusal, a TPM or HSM code under it) is answered PROVIDER_UNAVAILABLE.
constexpr ErrorCode providerFailureCode(ErrorCode code) {
  switch (code) {
    case ErrorCode::NotFound:
    case ErrorCode::VersionDeleted:
    case ErrorCode::VersionDestroyed:
    case ErrorCode::ProviderUnavailable:
      return code;
    default:
      return ErrorCode::ProviderUnavailable;
  }
}

// What a fetch returns besides the value: what the audit event records.
struct SecretMetadata {
  std::optional<std::uint32_t> kvVersion;   // the KV version actually read
  std::optional<std::string> leaseId;       // set for dynamic credentials
  std::optional<std::chrono::seconds> ttl;  // the lease's remaining life, for dynamic credentials
};

struct FetchedSecret {
  Secret value;
  SecretMetadata metadata;
};

// Fetches within one request share dynamic credentials: `#username` and
// `#password` of one database role get the same lease (docs/DESIGN.md). A provider
// keys what it shares by `requestId`; an empty id shares nothing.
struct FetchContext {
  std::string requestId;
};

class SecretProvider {
 public:
  virtual ~SecretProvider() = default;

  // Fetches the field named by `uri`; the version pinned by the URI unless
  // `version` overrides it. Without a field, the whole stored JSON object.
  // Contract: the plaintext only ever travels inside the returned Secret; errors
  // carry the provider_errc codes and never the value or the full URI.
  virtual Result<FetchedSecret> fetch(const SecretUri& uri, std::optional<std::uint32_t> version,
                                      const FetchContext& context) = 0;

  Result<FetchedSecret> fetch(const SecretUri& uri) { return fetch(uri, std::nullopt, FetchContext{}); }

  // True when the provider can serve requests (for /readyz).
  virtual bool healthy() const = 0;
};

}  // namespace sealgate
