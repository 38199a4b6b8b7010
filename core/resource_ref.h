// resource_ref: the non-leaky identifier of a canonical secret URI.
//   rr1:v<key version>:<first 26 chars of lowercase unpadded base32(HMAC-SHA256)>
// The HMAC key lives in the HSM; this file only knows the KeyedMac interface.
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.h"
#include "core/secret_uri.h"

namespace sealgate {

using Mac256 = std::array<std::uint8_t, 32>;

// A keyed MAC whose key never leaves its holder (an HSM key, a TPM key).
class KeyedMac {
 public:
  virtual ~KeyedMac() = default;
  // HMAC-SHA256 of `data` under the key; fails closed when the holder is unusable.
  virtual Result<Mac256> mac(std::string_view data) = 0;
  // The N of the key's label (`sealgate-ref-hmac-vN`), which resource_refs carry.
  virtual unsigned keyVersion() const = 0;
};

// Formats rr1:vN:... from a MAC. Exposed for tests and benchmarks.
std::string formatResourceRef(unsigned keyVersion, const Mac256& mac);

// Computes resource_refs through a KeyedMac with a bounded, thread-safe LRU cache
// keyed by canonical URI (the map lives in process memory only).
class ResourceRefs {
 public:
  ResourceRefs(KeyedMac& mac, std::size_t capacity);

  Result<std::string> of(const SecretUri& uri);
  Result<std::string> ofCanonical(const std::string& canonicalUri);
  std::size_t cachedCount() const;

 private:
  KeyedMac& mac_;
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::list<std::pair<std::string, std::string>> lru_;  // front = most recent
  std::unordered_map<std::string, decltype(lru_)::iterator> index_;
};

}  // namespace sealgate
