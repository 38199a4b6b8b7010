// resource_ref: the non-leaky identifier of a canonical secret URI.
//   rr1:v<key version>:<first 26 chars of lowercase unpadded base32(HMAC-SHA256)>
// The HMAC key lives in the HSM; this file only knows the KeyedMac interface.
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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

// The key version N a resource_ref names (rr1:vN:...), or nothing when `ref` is
// not one.
std::optional<unsigned> resourceRefVersion(std::string_view ref);

// Computes resource_refs through KeyedMacs with a bounded, thread-safe LRU cache
// keyed by key version and canonical URI (the map lives in process memory only).
//
// Key rotation (docs/RUNBOOK.md, "Key rotation"): several versions of the key
// can be known at once. New refs are computed under the active one; a grant
// issued before a rotation names its refs under the version of its day, and
// ofCanonical(uri, version) recomputes them under that version, until it is
// retired (KEY_RETIRED). No URI-to-ref table is stored anywhere.
class ResourceRefs {
 public:
  // `active` is the first known version and the active one.
  ResourceRefs(KeyedMac& active, std::size_t capacity);

  // Another version refs may be computed under (it must outlive this object).
  // Replaces a known version of the same number.
  void addKey(KeyedMac& mac);
  // Makes a known, unretired version the one new refs are computed under:
  // KEY_UNKNOWN, KEY_RETIRED otherwise.
  Result<void> activate(unsigned version);
  // Refs under a retired version are no longer computed (KEY_RETIRED); the
  // active version cannot be retired (KEY_ACTIVE).
  Result<void> retire(unsigned version);
  unsigned activeVersion() const;
  bool retired(unsigned version) const;
  struct VersionState {
    unsigned version = 0;
    bool active = false;
    bool retired = false;
  };
  std::vector<VersionState> versions() const;

  // Under the active version.
  Result<std::string> of(const SecretUri& uri);
  Result<std::string> ofCanonical(const std::string& canonicalUri);
  // Under `version`: KEY_UNKNOWN when it is not known, KEY_RETIRED when retired.
  Result<std::string> ofCanonical(const std::string& canonicalUri, unsigned version);
  // The ref of `canonicalUri` under the key version that `granted` (a grant's
  // refs, all issued under one version unless a rotation came between a grant
  // and its delegation) names for it: the first version named under which it is
  // one of them, else its ref under the first version named (the active one when
  // none is). KEY_RETIRED when a version named is retired: the grant is no
  // longer usable.
  Result<std::string> ofGranted(const std::string& canonicalUri, const std::vector<std::string>& granted);
  std::size_t cachedCount() const;

 private:
  struct Key {
    KeyedMac* mac = nullptr;
    bool retired = false;
  };
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::map<unsigned, Key> keys_;
  unsigned active_ = 0;
  // Cache key: "<version> <canonical URI>".
  std::list<std::pair<std::string, std::string>> lru_;  // front = most recent
  std::unordered_map<std::string, decltype(lru_)::iterator> index_;
};

}  // namespace sealgate
