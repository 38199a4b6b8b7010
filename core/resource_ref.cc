#include "core/resource_ref.h"

#include "core/encoding.h"

namespace sealgate {

std::string formatResourceRef(unsigned keyVersion, const Mac256& mac) {
  return "rr1:v" + std::to_string(keyVersion) + ":" + base32LowerNoPad(mac).substr(0, 26);
}

ResourceRefs::ResourceRefs(KeyedMac& mac, std::size_t capacity) : mac_(mac), capacity_(capacity) {}

Result<std::string> ResourceRefs::of(const SecretUri& uri) { return ofCanonical(uri.canonical()); }

Result<std::string> ResourceRefs::ofCanonical(const std::string& canonicalUri) {
  {
    std::lock_guard lock(mu_);
    if (auto it = index_.find(canonicalUri); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
  }
  // Computed outside the lock: the HSM call is the slow part and may run in parallel.
  SEALGATE_ASSIGN_OR_RETURN(auto mac, mac_.mac(canonicalUri));
  std::string ref = formatResourceRef(mac_.keyVersion(), mac);
  if (capacity_ == 0) return ref;
  std::lock_guard lock(mu_);
  if (index_.find(canonicalUri) == index_.end()) {
    lru_.emplace_front(canonicalUri, ref);
    index_[canonicalUri] = lru_.begin();
    if (lru_.size() > capacity_) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
  return ref;
}

std::size_t ResourceRefs::cachedCount() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace sealgate
