// Picks the SecretProvider for a URI by its tenant and mount, as the config says
// (kv mounts -> the embedded KV store, database mounts -> dynamic credentials,
// file mounts -> the development file provider). Unrouted mounts are NOT_FOUND.
#pragma once

#include <map>
#include <string>

#include "core/interfaces/secret_provider.h"

namespace sealgate::providers {

// Stands in for a provider that failed to start: every fetch is
// PROVIDER_UNAVAILABLE (fail closed), and it is never healthy.
class UnavailableProvider : public SecretProvider {
 public:
  Result<FetchedSecret> fetch(const SecretUri&, std::optional<std::uint32_t>, const FetchContext&) override {
    return makeError(provider_errc::kUnavailable, "the provider of this mount did not start");
  }
  using SecretProvider::fetch;
  bool healthy() const override { return false; }
};

class ProviderRouter : public SecretProvider {
 public:
  // False when the tenant/mount already has a provider.
  bool add(const std::string& tenant, const std::string& mount, SecretProvider& provider);
  SecretProvider* find(const std::string& tenant, const std::string& mount) const;

  Result<FetchedSecret> fetch(const SecretUri& uri, std::optional<std::uint32_t> version,
                              const FetchContext& context) override;
  using SecretProvider::fetch;
  // Every routed provider is healthy.
  bool healthy() const override;

 private:
  std::map<std::string, SecretProvider*> routes_;  // "tenant/mount"
};

}  // namespace sealgate::providers
