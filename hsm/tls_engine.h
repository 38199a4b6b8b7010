// The TLS private key, used in place through the OpenSSL pkcs11 engine (libp11).
// OpenSSL 3 in Debian 12 has no pkcs11 provider, so the engine API is the route.
#pragma once

#include <openssl/engine.h>
#include <openssl/evp.h>

#include <memory>
#include <string>

#include "core/openssl_ptr.h"
#include "core/result.h"
#include "core/secret.h"

namespace sealgate::hsm {

using sealgate::EvpPkeyPtr;

class Pkcs11Engine {
 public:
  // Loads and initialises the engine for `modulePath`, logged in with `pin`.
  // The process must not fork() afterwards (PKCS#11 sessions do not survive it).
  static Result<std::unique_ptr<Pkcs11Engine>> load(const std::string& modulePath, const Secret& pin);
  ~Pkcs11Engine();
  Pkcs11Engine(const Pkcs11Engine&) = delete;
  Pkcs11Engine& operator=(const Pkcs11Engine&) = delete;

  // An EVP_PKEY whose signing operations run inside the token.
  Result<EvpPkeyPtr> privateKey(const std::string& tokenLabel, const std::string& keyLabel);

 private:
  Pkcs11Engine() = default;
  ENGINE* engine_ = nullptr;
};

}  // namespace sealgate::hsm
