// Picks the SecretProvider for a URI by its tenant and mount, as the config says
// (kv mounts -> the embedded KV store, database mounts -> dynamic credentials,
// file mounts -> the development file provider). Unrouted mounts are NOT_FOUND.
#pragma once

#include <map>
#include <string>

#include "core/interfaces/secret_provider.h"

namespace sealgate::providers {

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
