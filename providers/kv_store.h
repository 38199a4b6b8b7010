// The embedded KV v2 store, the default SecretProvider. Semantics are KV v2's as
// OpenBao and Vault document them (docs/STANDARDS.md, "KV v2"): versions and max_versions,
// check-and-set, soft delete / undelete / destroy, key metadata with
// custom_metadata and delete_version_after, list.
//
// At rest: DIR/datakey.sealed is a 32-byte data key sealed by the DataKeySealer
// (context "sealgate/kv/v1"). Every key is one file DIR/keys/<id> (id =
// SHA-256 of namespace, mount and path) holding its metadata, encrypted with
// XChaCha20-Poly1305 under the data key; each version's data is encrypted again
// on its own (AAD binds the file id and the version), so a read decrypts only
// the version asked for, straight into a Secret. Files are written to a temp
// file, fsync'ed and renamed, and the directory fsync'ed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/interfaces/data_key_sealer.h"
#include "core/interfaces/secret_provider.h"
#include "core/result.h"
#include "core/secret.h"

namespace sealgate::providers {

// Error codes of the KV store besides provider_errc (API.md).
namespace kv_errc {
inline constexpr ErrorCode kCasRequired = ErrorCode::KvCasRequired;  // the key or mount needs options.cas
inline constexpr ErrorCode kCasMismatch = ErrorCode::KvCasMismatch;  // options.cas is not the current version
inline constexpr ErrorCode kInvalid = ErrorCode::KvInvalid;          // a bad argument (path, metadata, versions)
inline constexpr ErrorCode kNoMount = ErrorCode::KvNoMount;          // no such mount in this namespace
inline constexpr ErrorCode kTampered = ErrorCode::KvTampered;        // stored data failed authentication
}  // namespace kv_errc

inline constexpr const char* kKvSealContext = "sealgate/kv/v1";

using KvClock = std::chrono::system_clock;

struct KvPath {
  std::string ns;     // the tenant (Vault namespace)
  std::string mount;  // a KV v2 mount
  std::string path;   // "a/b", validated by the URI grammar
};

struct KvMountConfig {
  std::uint32_t maxVersions = 0;  // 0 means 10
  bool casRequired = false;
  std::chrono::seconds deleteVersionAfter{0};  // 0: never
};

struct KvVersionInfo {
  std::uint32_t version = 0;
  KvClock::time_point created;
  std::optional<KvClock::time_point> deletionTime;  // set: deleted from then on
  bool destroyed = false;
  bool deletedAt(KvClock::time_point now) const { return deletionTime && *deletionTime <= now; }
};

struct KvKeyInfo {
  std::uint32_t currentVersion = 0;
  std::uint32_t oldestVersion = 0;
  std::uint32_t maxVersions = 0;
  bool casRequired = false;
  std::chrono::seconds deleteVersionAfter{0};
  nlohmann::json customMetadata;  // null or an object of strings
  KvClock::time_point created;
  KvClock::time_point updated;
  std::map<std::uint32_t, KvVersionInfo> versions;
};

struct KvRead {
  KvVersionInfo version;
  nlohmann::json customMetadata;
  std::optional<Secret> data;  // the stored JSON object; empty when deleted or destroyed
};

// A metadata write: unset fields keep their value.
struct KvMetadataUpdate {
  std::optional<std::uint32_t> maxVersions;
  std::optional<bool> casRequired;
  std::optional<std::chrono::seconds> deleteVersionAfter;
  std::optional<nlohmann::json> customMetadata;  // an object of strings (merged on patch)
};

struct KvStoreSettings {
  std::string dir;
  std::map<std::string, std::set<std::string>> mounts;  // namespace -> KV mounts
};

class KvStore : public SecretProvider {
 public:
  // Opens (or creates, when DIR holds no data key and no keys) the store.
  // Any file that fails authentication fails the open with KV_TAMPERED.
  static Result<std::unique_ptr<KvStore>> open(const KvStoreSettings& settings, DataKeySealer& sealer);

  bool hasMount(const std::string& ns, const std::string& mount) const;

  // Writes a new version (`dataJson` is a JSON object's text). `cas`: the
  // version the caller expects to be current (0: the key must not exist).
  Result<KvVersionInfo> put(const KvPath& p, const Secret& dataJson, std::optional<std::uint32_t> cas,
                            KvClock::time_point now = KvClock::now());
  // Reads `version` (0: the current one). NOT_FOUND when the key or version does
  // not exist; a deleted or destroyed version comes back without data.
  Result<KvRead> read(const KvPath& p, std::uint32_t version, KvClock::time_point now = KvClock::now()) const;
  // Soft-deletes the listed versions, or the latest one when `versions` is empty.
  Result<void> softDelete(const KvPath& p, const std::vector<std::uint32_t>& versions,
                          KvClock::time_point now = KvClock::now());
  Result<void> undelete(const KvPath& p, const std::vector<std::uint32_t>& versions);
  Result<void> destroy(const KvPath& p, const std::vector<std::uint32_t>& versions);

  Result<KvKeyInfo> metadata(const KvPath& p) const;
  // Creates the key's metadata when missing (as Vault's POST metadata does).
  Result<void> writeMetadata(const KvPath& p, const KvMetadataUpdate& update, bool patch,
                             KvClock::time_point now = KvClock::now());
  // Removes every version and the key.
  Result<void> deleteMetadata(const KvPath& p);
  // The keys directly below `prefix` ("" or "a/b/"); folders end in '/'.
  Result<std::vector<std::string>> list(const std::string& ns, const std::string& mount,
                                        const std::string& prefix) const;

  Result<KvMountConfig> mountConfig(const std::string& ns, const std::string& mount) const;
  Result<void> setMountConfig(const std::string& ns, const std::string& mount, const KvMountConfig& config);

  // SecretProvider: kv mounts; field = a key of the stored object.
  Result<FetchedSecret> fetch(const SecretUri& uri, std::optional<std::uint32_t> version,
                              const FetchContext& context) override;
  using SecretProvider::fetch;
  bool healthy() const override { return true; }

  // The effective settings of a key (key metadata over mount config).
  static std::uint32_t effectiveMaxVersions(const KvKeyInfo& key, const KvMountConfig& mount);

 private:
  struct Entry {
    KvPath path;
    KvKeyInfo info;
    std::map<std::uint32_t, Bytes> sealedData;  // version -> nonce ‖ ciphertext
  };
  KvStore() = default;
  Result<void> checkMount(const KvPath& p) const;
  Result<void> persist(const std::string& id, const Entry& e);
  // The shared shape of soft delete, undelete and destroy: `change(version, e)`
  // alters one listed version of a copy of the entry and says whether it did;
  // the copy is persisted and swapped in only if something changed. An empty
  // list means the latest version when `latestIfNone`, else it is refused.
  Result<void> changeVersions(const KvPath& p, std::vector<std::uint32_t> versions, bool latestIfNone,
                              const std::function<bool(std::uint32_t, Entry&)>& change);
  Result<void> persistMounts();
  Result<void> removeFile(const std::string& id);
  Result<Entry> loadEntry(const std::string& id) const;
  std::string idOf(const KvPath& p) const;

  KvStoreSettings settings_;
  Secret dataKey_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;               // id -> entry
  std::map<std::string, KvMountConfig> mountConfigs_;  // "ns/mount" -> config
};

// RFC 3339 with nanoseconds, UTC, as Vault writes times.
std::string formatVaultTime(KvClock::time_point t);

// Wipes every string inside `j` (values and keys are not reachable for keys;
// values are) before it is destroyed.
void wipeJsonStrings(nlohmann::json& j);

}  // namespace sealgate::providers
