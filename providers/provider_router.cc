#include "providers/provider_router.h"

namespace sealgate::providers {

bool ProviderRouter::add(const std::string& tenant, const std::string& mount, SecretProvider& provider) {
  return routes_.emplace(tenant + "/" + mount, &provider).second;
}

SecretProvider* ProviderRouter::find(const std::string& tenant, const std::string& mount) const {
  auto it = routes_.find(tenant + "/" + mount);
  return it == routes_.end() ? nullptr : it->second;
}

Result<FetchedSecret> ProviderRouter::fetch(const SecretUri& uri, std::optional<std::uint32_t> version,
                                            const FetchContext& context) {
  SecretProvider* p = find(uri.tenant(), uri.mount());
  if (p == nullptr) return makeError(provider_errc::kNotFound, "no provider serves this mount");
  return p->fetch(uri, version, context);
}

bool ProviderRouter::healthy() const {
  for (const auto& [k, p] : routes_) {
    if (!p->healthy()) return false;
  }
  return true;
}

}  // namespace sealgate::providers
