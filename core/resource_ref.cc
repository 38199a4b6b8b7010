#include "core/resource_ref.h"

#include <algorithm>

#include "core/encoding.h"

namespace sealgate {

std::string formatResourceRef(unsigned keyVersion, const Mac256& mac) {
  return "rr1:v" + std::to_string(keyVersion) + ":" + base32LowerNoPad(mac).substr(0, 26);
}

std::optional<unsigned> resourceRefVersion(std::string_view ref) {
  constexpr std::string_view kPrefix = "rr1:v";
  if (ref.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  ref.remove_prefix(kPrefix.size());
  const auto colon = ref.find(':');
  if (colon == 0 || colon == std::string_view::npos || colon > 9 || ref[0] == '0') return std::nullopt;
  unsigned version = 0;
  for (char c : ref.substr(0, colon)) {
    if (c < '0' || c > '9') return std::nullopt;
    version = version * 10 + static_cast<unsigned>(c - '0');
  }
  return version;
}

ResourceRefs::ResourceRefs(KeyedMac& active, std::size_t capacity) : capacity_(capacity) {
  keys_[active.keyVersion()] = Key{&active, false};
  active_ = active.keyVersion();
}

void ResourceRefs::addKey(KeyedMac& mac) {
  std::lock_guard lock(mu_);
  auto& key = keys_[mac.keyVersion()];
  key.mac = &mac;
}

Result<void> ResourceRefs::activate(unsigned version) {
  std::lock_guard lock(mu_);
  auto it = keys_.find(version);
  if (it == keys_.end())
    return makeError(ErrorCode::KeyUnknown, "no resource_ref key version " + std::to_string(version));
  if (it->second.retired) {
    return makeError(ErrorCode::KeyRetired, "resource_ref key version " + std::to_string(version) + " is retired");
  }
  active_ = version;
  return {};
}

Result<void> ResourceRefs::retire(unsigned version) {
  std::lock_guard lock(mu_);
  auto it = keys_.find(version);
  if (it == keys_.end())
    return makeError(ErrorCode::KeyUnknown, "no resource_ref key version " + std::to_string(version));
  if (version == active_) {
    return makeError(ErrorCode::KeyActive,
                     "resource_ref key version " + std::to_string(version) + " is the active one");
  }
  it->second.retired = true;
  return {};
}

unsigned ResourceRefs::activeVersion() const {
  std::lock_guard lock(mu_);
  return active_;
}

bool ResourceRefs::retired(unsigned version) const {
  std::lock_guard lock(mu_);
  auto it = keys_.find(version);
  return it != keys_.end() && it->second.retired;
}

std::vector<ResourceRefs::VersionState> ResourceRefs::versions() const {
  std::lock_guard lock(mu_);
  std::vector<VersionState> out;
  for (const auto& [version, key] : keys_) out.push_back({version, version == active_, key.retired});
  return out;
}

Result<std::string> ResourceRefs::of(const SecretUri& uri) { return ofCanonical(uri.canonical()); }

Result<std::string> ResourceRefs::ofCanonical(const std::string& canonicalUri) {
  return ofCanonical(canonicalUri, activeVersion());
}

Result<std::string> ResourceRefs::ofCanonical(const std::string& canonicalUri, unsigned version) {
  const std::string cacheKey = std::to_string(version) + " " + canonicalUri;
  KeyedMac* mac = nullptr;
  {
    std::lock_guard lock(mu_);
    auto key = keys_.find(version);
    if (key == keys_.end()) {
      return makeError(ErrorCode::KeyUnknown, "no resource_ref key version " + std::to_string(version));
    }
    if (key->second.retired) {
      return makeError(ErrorCode::KeyRetired, "resource_ref key version " + std::to_string(version) + " is retired");
    }
    mac = key->second.mac;
    if (auto it = index_.find(cacheKey); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
  }
  // Computed outside the lock: the HSM call is the slow part and may run in parallel.
  SEALGATE_ASSIGN_OR_RETURN(auto digest, mac->mac(canonicalUri));
  std::string ref = formatResourceRef(version, digest);
  if (capacity_ == 0) return ref;
  std::lock_guard lock(mu_);
  if (index_.find(cacheKey) == index_.end()) {
    lru_.emplace_front(cacheKey, ref);
    index_[cacheKey] = lru_.begin();
    if (lru_.size() > capacity_) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
  return ref;
}

Result<std::string> ResourceRefs::ofGranted(const std::string& canonicalUri, const std::vector<std::string>& granted) {
  std::vector<unsigned> named;
  for (const auto& ref : granted) {
    const auto version = resourceRefVersion(ref);
    if (version && std::find(named.begin(), named.end(), *version) == named.end()) named.push_back(*version);
  }
  if (named.empty()) return ofCanonical(canonicalUri);
  std::optional<std::string> first;
  for (unsigned version : named) {
    SEALGATE_ASSIGN_OR_RETURN(auto ref, ofCanonical(canonicalUri, version));
    if (std::find(granted.begin(), granted.end(), ref) != granted.end()) return ref;
    if (!first) first = std::move(ref);
  }
  return std::move(*first);
}

std::size_t ResourceRefs::cachedCount() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace sealgate
