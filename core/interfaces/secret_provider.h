// SecretProvider: fetches secret material for a canonical URI into a Secret.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/result.h"
#include "core/secret.h"
#include "core/secret_uri.h"

namespace sealgate {

struct FetchedSecret {
  Secret value;
  std::optional<std::uint32_t> kvVersion;  // the version actually read (audited)
  std::optional<std::string> leaseId;      // set for dynamic credentials
};

class SecretProvider {
 public:
  virtual ~SecretProvider() = default;

  // Fetches the field named by `uri` (version pinned when the URI carries one).
  // Contract: the plaintext only ever travels inside the returned Secret; errors
  // carry codes such as SECRET_NOT_FOUND or PROVIDER_UNAVAILABLE and never the
  // value or the full URI.
  virtual Result<FetchedSecret> fetch(const SecretUri& uri) = 0;

  // True when the provider can serve requests (for /readyz).
  virtual bool healthy() const = 0;
};

}  // namespace sealgate
