#include "providers/kv_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "core/encoding.h"
#include "core/file_io.h"
#include "core/json_parse.h"
#include "core/time_format.h"

namespace sealgate::providers {

using nlohmann::json;

namespace {

constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::uint32_t kDefaultMaxVersions = 10;
constexpr std::size_t kMaxCustomMetadataKeys = 64;

Error unavailable(const std::string& why) { return makeError(provider_errc::kUnavailable, "the KV store " + why); }
Error notFound() { return makeError(provider_errc::kNotFound, "no such key or version"); }
Error invalid(const std::string& why) { return makeError(kv_errc::kInvalid, why); }

std::int64_t toMicros(KvClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
KvClock::time_point fromMicros(std::int64_t us) {
  return KvClock::time_point(std::chrono::duration_cast<KvClock::duration>(std::chrono::microseconds(us)));
}

Result<Bytes> encrypt(const Secret& key, std::span<const std::uint8_t> plain, const std::string& aad) {
  Bytes out(kNonce + plain.size() + kTag);
  randombytes_buf(out.data(), kNonce);
  unsigned long long n = 0;
  if (crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + kNonce, &n, plain.data(), plain.size(),
                                                 reinterpret_cast<const unsigned char*>(aad.data()), aad.size(),
                                                 nullptr, out.data(), key.exposeSecretBytes().data()) != 0) {
    return unavailable("cannot encrypt");
  }
  out.resize(kNonce + n);
  return out;
}

Result<Secret> decrypt(const Secret& key, const Bytes& blob, const std::string& aad) {
  if (blob.size() < kNonce + kTag) return makeError(kv_errc::kTampered, "a stored KV record is truncated");
  auto out = Secret::allocate(blob.size() - kNonce - kTag);
  if (!out) return out;
  unsigned long long n = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out->exposeSecretBytesMutable().data(), &n, nullptr,
                                                 blob.data() + kNonce, blob.size() - kNonce,
                                                 reinterpret_cast<const unsigned char*>(aad.data()), aad.size(),
                                                 blob.data(), key.exposeSecretBytes().data()) != 0) {
    return makeError(kv_errc::kTampered, "a stored KV record failed authentication");
  }
  return out;
}

// core's writeFileAtomically with the store's error: the message names the
// step, not the record's file.
Result<void> writeFileAtomically(const std::string& path, std::span<const std::uint8_t> content) {
  auto w = sealgate::writeFileAtomically(path, content, 0600, provider_errc::kUnavailable);
  if (w) return w;
  return unavailable("cannot write a record (" + w.error().operation + ": " +
                     std::strerror(static_cast<int>(w.error().native)) + ")");
}

std::optional<Bytes> readFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return std::nullopt;
  Bytes out;
  std::uint8_t buf[8192];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  const bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad) return std::nullopt;
  return out;
}

std::string sha256Hex(const std::string& s) {
  std::uint8_t d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  return hexLower(d);
}

std::string mountKey(const std::string& ns, const std::string& mount) { return ns + "/" + mount; }

bool validPath(const std::string& path) {
  auto uri = SecretUri::parse("secret://acme/kv/" + path);
  return uri && uri->joinedPath() == path;
}

std::string versionAad(const std::string& id, std::uint32_t v) {
  return std::string(kKvSealContext) + "|data|" + id + "|" + std::to_string(v);
}

json versionToJson(const KvVersionInfo& v) {
  json j = {{"v", v.version}, {"c", toMicros(v.created)}, {"x", v.destroyed}};
  if (v.deletionTime) j["d"] = toMicros(*v.deletionTime);
  return j;
}

}  // namespace

// ---- formats -------------------------------------------------------------------------

std::string formatVaultTime(KvClock::time_point t) { return rfc3339Micros(t); }

void wipeJsonStrings(json& root) {
  // Iterative: no document can exhaust the stack.
  std::vector<json*> todo{&root};
  while (!todo.empty()) {
    json& j = *todo.back();
    todo.pop_back();
    if (j.is_string()) {
      auto& s = j.get_ref<std::string&>();
      secureWipe(s.data(), s.size());
    } else if (j.is_structured()) {
      for (auto& v : j) todo.push_back(&v);
    }
  }
}

// ---- store ---------------------------------------------------------------------------

std::string KvStore::idOf(const KvPath& p) const {
  return sha256Hex(p.ns + std::string(1, '\0') + p.mount + std::string(1, '\0') + p.path);
}

std::uint32_t KvStore::effectiveMaxVersions(const KvKeyInfo& key, const KvMountConfig& mount) {
  std::uint32_t m = mount.maxVersions;
  if (key.maxVersions != 0 && (m == 0 || key.maxVersions < m)) m = key.maxVersions;
  return m == 0 ? kDefaultMaxVersions : m;
}

Result<std::unique_ptr<KvStore>> KvStore::open(const KvStoreSettings& settings, DataKeySealer& sealer) {
  std::unique_ptr<KvStore> s(new KvStore());
  s->settings_ = settings;
  const std::string keysDir = settings.dir + "/keys";
  for (const std::string& d : {settings.dir, keysDir}) {
    if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) return unavailable("cannot create its directory");
  }
  const std::string keyFile = settings.dir + "/datakey.sealed";
  std::vector<std::string> ids;
  if (DIR* dir = ::opendir(keysDir.c_str())) {
    while (dirent* e = ::readdir(dir)) {
      std::string name = e->d_name;
      if (name.size() == 64 && name.find_first_not_of("0123456789abcdef") == std::string::npos) ids.push_back(name);
    }
    ::closedir(dir);
  } else {
    return unavailable("cannot read its directory");
  }
  auto blob = readFile(keyFile);
  const bool haveMounts = ::access((settings.dir + "/mounts").c_str(), F_OK) == 0;
  if (!blob) {
    if (!ids.empty() || haveMounts) {
      return makeError(kv_errc::kTampered, "the KV store holds keys but its sealed data key is missing");
    }
    SEALGATE_ASSIGN_OR_RETURN(auto key, Secret::allocate(32));
    randombytes_buf(key.exposeSecretBytesMutable().data(), 32);
    SEALGATE_ASSIGN_OR_RETURN(auto sealed, sealer.seal(key, kKvSealContext));
    SEALGATE_TRY(writeFileAtomically(keyFile, sealed));
    s->dataKey_ = std::move(key);
  } else {
    SEALGATE_ASSIGN_OR_RETURN(auto key, sealer.unseal(*blob, kKvSealContext));
    if (key.size() != crypto_aead_xchacha20poly1305_ietf_KEYBYTES) {
      return makeError(kv_errc::kTampered, "the KV data key has the wrong size");
    }
    s->dataKey_ = std::move(key);
  }
  for (const auto& id : ids) {
    SEALGATE_ASSIGN_OR_RETURN(auto e, s->loadEntry(id));
    s->entries_.emplace(id, std::move(e));
  }
  if (haveMounts) {
    auto raw = readFile(settings.dir + "/mounts");
    if (!raw) return unavailable("cannot read its mount configuration");
    SEALGATE_ASSIGN_OR_RETURN(auto plain, decrypt(s->dataKey_, *raw, std::string(kKvSealContext) + "|mounts"));
    auto span = plain.exposeSecretBytes();
    json j = parseInternalJson(span);
    if (!j.is_object()) return makeError(kv_errc::kTampered, "the KV mount configuration is malformed");
    for (const auto& [k, v] : j.items()) {
      KvMountConfig c;
      c.maxVersions = v.value("max_versions", 0u);
      c.casRequired = v.value("cas_required", false);
      c.deleteVersionAfter = std::chrono::seconds(v.value("delete_version_after", 0ll));
      s->mountConfigs_[k] = c;
    }
  }
  return s;
}

Result<KvStore::Entry> KvStore::loadEntry(const std::string& id) const {
  auto raw = readFile(settings_.dir + "/keys/" + id);
  if (!raw) return unavailable("cannot read a record");
  SEALGATE_ASSIGN_OR_RETURN(auto plain, decrypt(dataKey_, *raw, std::string(kKvSealContext) + "|key|" + id));
  auto span = plain.exposeSecretBytes();
  json j = parseInternalJson(span);
  const Error bad = makeError(kv_errc::kTampered, "a stored KV record is malformed");
  if (!j.is_object()) return bad;
  try {
    Entry e;
    e.path = KvPath{j.at("ns"), j.at("mount"), j.at("path")};
    if (idOf(e.path) != id) return bad;
    e.info.currentVersion = j.at("current");
    e.info.oldestVersion = j.at("oldest");
    e.info.maxVersions = j.at("max_versions");
    e.info.casRequired = j.at("cas_required");
    e.info.deleteVersionAfter = std::chrono::seconds(j.at("dva").get<std::int64_t>());
    e.info.customMetadata = j.at("custom");
    e.info.created = fromMicros(j.at("created"));
    e.info.updated = fromMicros(j.at("updated"));
    for (const auto& v : j.at("versions")) {
      KvVersionInfo vi;
      vi.version = v.at("v");
      vi.created = fromMicros(v.at("c"));
      vi.destroyed = v.at("x");
      if (v.contains("d")) vi.deletionTime = fromMicros(v.at("d"));
      e.info.versions[vi.version] = vi;
      if (v.contains("data")) {
        auto bytes = decodeBase64UrlNoPad(v.at("data").get<std::string>());
        if (!bytes) return bad;
        e.sealedData[vi.version] = std::move(*bytes);
      }
    }
    return e;
  } catch (const json::exception&) {
    return bad;
  }
}

Result<void> KvStore::persist(const std::string& id, const Entry& e) {
  json versions = json::array();
  for (const auto& [v, info] : e.info.versions) {
    json vj = versionToJson(info);
    if (auto it = e.sealedData.find(v); it != e.sealedData.end()) vj["data"] = base64UrlNoPad(it->second);
    versions.push_back(std::move(vj));
  }
  const json j = {{"ns", e.path.ns},
                  {"mount", e.path.mount},
                  {"path", e.path.path},
                  {"current", e.info.currentVersion},
                  {"oldest", e.info.oldestVersion},
                  {"max_versions", e.info.maxVersions},
                  {"cas_required", e.info.casRequired},
                  {"dva", e.info.deleteVersionAfter.count()},
                  {"custom", e.info.customMetadata},
                  {"created", toMicros(e.info.created)},
                  {"updated", toMicros(e.info.updated)},
                  {"versions", versions}};
  const std::string text = j.dump();
  SEALGATE_ASSIGN_OR_RETURN(auto blob, encrypt(dataKey_, asBytes(text), std::string(kKvSealContext) + "|key|" + id));
  return writeFileAtomically(settings_.dir + "/keys/" + id, blob);
}

Result<void> KvStore::persistMounts() {
  json j = json::object();
  for (const auto& [k, c] : mountConfigs_) {
    j[k] = {{"max_versions", c.maxVersions},
            {"cas_required", c.casRequired},
            {"delete_version_after", c.deleteVersionAfter.count()}};
  }
  const std::string text = j.dump();
  SEALGATE_ASSIGN_OR_RETURN(auto blob, encrypt(dataKey_, asBytes(text), std::string(kKvSealContext) + "|mounts"));
  return writeFileAtomically(settings_.dir + "/mounts", blob);
}

Result<void> KvStore::removeFile(const std::string& id) {
  const std::string path = settings_.dir + "/keys/" + id;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return unavailable("cannot remove a record");
  if (!syncDir(settings_.dir + "/keys")) return unavailable("cannot sync its directory");
  return Ok{};
}

bool KvStore::hasMount(const std::string& ns, const std::string& mount) const {
  auto it = settings_.mounts.find(ns);
  return it != settings_.mounts.end() && it->second.count(mount) > 0;
}

Result<void> KvStore::checkMount(const KvPath& p) const {
  if (!hasMount(p.ns, p.mount)) return makeError(kv_errc::kNoMount, "no such KV mount in this namespace");
  if (!validPath(p.path)) return invalid("the path is not valid");
  return Ok{};
}

Result<KvMountConfig> KvStore::mountConfig(const std::string& ns, const std::string& mount) const {
  if (!hasMount(ns, mount)) return makeError(kv_errc::kNoMount, "no such KV mount in this namespace");
  std::lock_guard lock(mu_);
  auto it = mountConfigs_.find(mountKey(ns, mount));
  return it == mountConfigs_.end() ? KvMountConfig{} : it->second;
}

Result<void> KvStore::setMountConfig(const std::string& ns, const std::string& mount, const KvMountConfig& config) {
  if (!hasMount(ns, mount)) return makeError(kv_errc::kNoMount, "no such KV mount in this namespace");
  std::lock_guard lock(mu_);
  auto previous = mountConfigs_;
  mountConfigs_[mountKey(ns, mount)] = config;
  if (auto saved = persistMounts(); !saved) {
    mountConfigs_ = std::move(previous);
    return saved;
  }
  return Ok{};
}

Result<KvVersionInfo> KvStore::put(const KvPath& p, const Secret& dataJson, std::optional<std::uint32_t> cas,
                                   KvClock::time_point now) {
  SEALGATE_TRY(checkMount(p));
  std::lock_guard lock(mu_);
  const std::string id = idOf(p);
  const KvMountConfig mc =
      mountConfigs_.count(mountKey(p.ns, p.mount)) ? mountConfigs_[mountKey(p.ns, p.mount)] : KvMountConfig{};
  auto it = entries_.find(id);
  Entry e;
  if (it != entries_.end()) {
    e = Entry{it->second.path, it->second.info, it->second.sealedData};
  } else {
    e.path = p;
    e.info.created = now;
  }
  if ((mc.casRequired || e.info.casRequired) && !cas) {
    return makeError(kv_errc::kCasRequired, "check-and-set parameter required for this call");
  }
  if (cas && *cas != e.info.currentVersion) {
    return makeError(kv_errc::kCasMismatch, "check-and-set parameter did not match the current version");
  }
  if (e.info.currentVersion == UINT32_MAX) return invalid("the key has no versions left");
  const std::uint32_t v = e.info.currentVersion + 1;
  SEALGATE_ASSIGN_OR_RETURN(auto sealed, encrypt(dataKey_, dataJson.exposeSecretBytes(), versionAad(id, v)));
  KvVersionInfo vi;
  vi.version = v;
  vi.created = now;
  const auto dva = e.info.deleteVersionAfter.count() > 0 ? e.info.deleteVersionAfter : mc.deleteVersionAfter;
  if (dva.count() > 0) vi.deletionTime = now + dva;
  e.info.versions[v] = vi;
  e.sealedData[v] = std::move(sealed);
  e.info.currentVersion = v;
  if (e.info.oldestVersion == 0) e.info.oldestVersion = v;
  e.info.updated = now;
  // Past max_versions the oldest versions are removed permanently.
  const std::uint32_t maxV = effectiveMaxVersions(e.info, mc);
  while (e.info.versions.size() > maxV) {
    const auto oldest = e.info.versions.begin()->first;
    e.info.versions.erase(oldest);
    e.sealedData.erase(oldest);
  }
  if (!e.info.versions.empty()) e.info.oldestVersion = std::max(e.info.oldestVersion, e.info.versions.begin()->first);
  SEALGATE_TRY(persist(id, e));
  entries_[id] = std::move(e);
  return vi;
}

Result<KvRead> KvStore::read(const KvPath& p, std::uint32_t version, KvClock::time_point now) const {
  SEALGATE_TRY(checkMount(p));
  std::lock_guard lock(mu_);
  const std::string id = idOf(p);
  auto it = entries_.find(id);
  if (it == entries_.end()) return notFound();
  const Entry& e = it->second;
  const std::uint32_t v = version == 0 ? e.info.currentVersion : version;
  auto vit = e.info.versions.find(v);
  if (vit == e.info.versions.end()) return notFound();
  KvRead out;
  out.version = vit->second;
  out.customMetadata = e.info.customMetadata;
  if (!vit->second.destroyed && !vit->second.deletedAt(now)) {
    auto sit = e.sealedData.find(v);
    if (sit == e.sealedData.end()) return makeError(kv_errc::kTampered, "a stored version has no data");
    SEALGATE_ASSIGN_OR_RETURN(auto plain, decrypt(dataKey_, sit->second, versionAad(id, v)));
    out.data = std::move(plain);
  }
  return out;
}

Result<void> KvStore::changeVersions(const KvPath& p, std::vector<std::uint32_t> versions, bool latestIfNone,
                                     const std::function<bool(std::uint32_t, Entry&)>& change) {
  SEALGATE_TRY(checkMount(p));
  if (versions.empty() && !latestIfNone) return invalid("no version number provided");
  std::lock_guard lock(mu_);
  const std::string id = idOf(p);
  auto it = entries_.find(id);
  if (it == entries_.end()) return Ok{};  // Vault: changing nothing succeeds
  Entry e{it->second.path, it->second.info, it->second.sealedData};
  if (versions.empty()) {
    if (e.info.currentVersion == 0) return Ok{};
    versions.push_back(e.info.currentVersion);
  }
  bool changed = false;
  for (auto v : versions) changed = change(v, e) || changed;
  if (!changed) return Ok{};
  SEALGATE_TRY(persist(id, e));
  it->second = std::move(e);
  return Ok{};
}

Result<void> KvStore::softDelete(const KvPath& p, const std::vector<std::uint32_t>& versions, KvClock::time_point now) {
  return changeVersions(p, versions, /*latestIfNone=*/true, [now](std::uint32_t v, Entry& e) {
    auto vit = e.info.versions.find(v);
    if (vit == e.info.versions.end() || vit->second.destroyed || vit->second.deletedAt(now)) return false;
    vit->second.deletionTime = now;
    e.info.updated = now;
    return true;
  });
}

Result<void> KvStore::undelete(const KvPath& p, const std::vector<std::uint32_t>& versions) {
  return changeVersions(p, versions, /*latestIfNone=*/false, [](std::uint32_t v, Entry& e) {
    auto vit = e.info.versions.find(v);
    if (vit == e.info.versions.end() || vit->second.destroyed || !vit->second.deletionTime) return false;
    vit->second.deletionTime.reset();
    return true;
  });
}

Result<void> KvStore::destroy(const KvPath& p, const std::vector<std::uint32_t>& versions) {
  return changeVersions(p, versions, /*latestIfNone=*/false, [](std::uint32_t v, Entry& e) {
    auto vit = e.info.versions.find(v);
    if (vit == e.info.versions.end() || vit->second.destroyed) return false;
    vit->second.destroyed = true;
    e.sealedData.erase(v);
    return true;
  });
}

Result<KvKeyInfo> KvStore::metadata(const KvPath& p) const {
  SEALGATE_TRY(checkMount(p));
  std::lock_guard lock(mu_);
  auto it = entries_.find(idOf(p));
  if (it == entries_.end()) return notFound();
  return it->second.info;
}

Result<void> KvStore::writeMetadata(const KvPath& p, const KvMetadataUpdate& update, bool patch,
                                    KvClock::time_point now) {
  SEALGATE_TRY(checkMount(p));
  if (update.customMetadata) {
    const json& c = *update.customMetadata;
    if (!c.is_object() || c.size() > kMaxCustomMetadataKeys) {
      return invalid("custom_metadata must be an object of at most 64 string values");
    }
    for (const auto& [k, v] : c.items()) {
      if (k.empty() || k.size() > 128 || (!v.is_string() && !(patch && v.is_null())) ||
          (v.is_string() && v.get<std::string>().size() > 512)) {
        return invalid("custom_metadata keys are 1-128 characters and values strings of at most 512");
      }
    }
  }
  std::lock_guard lock(mu_);
  const std::string id = idOf(p);
  auto it = entries_.find(id);
  if (patch && it == entries_.end()) return notFound();
  Entry e;
  if (it != entries_.end()) {
    e = Entry{it->second.path, it->second.info, it->second.sealedData};
  } else {
    e.path = p;
    e.info.created = now;
  }
  if (update.maxVersions) e.info.maxVersions = *update.maxVersions;
  if (update.casRequired) e.info.casRequired = *update.casRequired;
  if (update.deleteVersionAfter) e.info.deleteVersionAfter = *update.deleteVersionAfter;
  if (update.customMetadata) {
    if (patch) {
      json merged = e.info.customMetadata.is_object() ? e.info.customMetadata : json::object();
      merged.merge_patch(*update.customMetadata);
      if (merged.size() > kMaxCustomMetadataKeys) return invalid("custom_metadata holds at most 64 keys");
      e.info.customMetadata = merged.empty() ? json() : merged;
    } else {
      e.info.customMetadata = update.customMetadata->empty() ? json() : *update.customMetadata;
    }
  }
  e.info.updated = now;
  SEALGATE_TRY(persist(id, e));
  entries_[id] = std::move(e);
  return Ok{};
}

Result<void> KvStore::deleteMetadata(const KvPath& p) {
  SEALGATE_TRY(checkMount(p));
  std::lock_guard lock(mu_);
  const std::string id = idOf(p);
  if (!entries_.count(id)) return Ok{};
  SEALGATE_TRY(removeFile(id));
  entries_.erase(id);
  return Ok{};
}

Result<std::vector<std::string>> KvStore::list(const std::string& ns, const std::string& mount,
                                               const std::string& prefix) const {
  if (!hasMount(ns, mount)) return makeError(kv_errc::kNoMount, "no such KV mount in this namespace");
  if (!prefix.empty() && (prefix.back() != '/' || !validPath(prefix.substr(0, prefix.size() - 1)))) {
    return invalid("the path is not valid");
  }
  std::lock_guard lock(mu_);
  std::set<std::string> keys;
  for (const auto& [id, e] : entries_) {
    if (e.path.ns != ns || e.path.mount != mount || e.path.path.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = e.path.path.substr(prefix.size());
    const auto slash = rest.find('/');
    keys.insert(slash == std::string::npos ? rest : rest.substr(0, slash + 1));
  }
  if (keys.empty()) return notFound();
  return std::vector<std::string>(keys.begin(), keys.end());
}

Result<FetchedSecret> KvStore::fetch(const SecretUri& uri, std::optional<std::uint32_t> version, const FetchContext&) {
  const KvPath p{uri.tenant(), uri.mount(), uri.joinedPath()};
  auto r = read(p, version.value_or(uri.version().value_or(0)));
  if (!r) {
    if (r.error().code == kv_errc::kNoMount || r.error().code == kv_errc::kInvalid) return notFound();
    if (r.error().code == kv_errc::kTampered) return unavailable("failed an integrity check");
    return std::move(r).takeError();
  }
  if (r->version.destroyed) return makeError(provider_errc::kVersionDestroyed, "the version is destroyed");
  if (!r->data) return makeError(provider_errc::kVersionDeleted, "the version is deleted");
  FetchedSecret out;
  out.metadata.kvVersion = r->version.version;
  if (!uri.field()) {
    out.value = std::move(*r->data);
    return out;
  }
  auto span = r->data->exposeSecretBytes();
  json doc = parseInternalJson(span);
  Result<FetchedSecret> result = notFound();
  if (doc.is_object() && doc.contains(*uri.field())) {
    json& field = doc[*uri.field()];
    Result<Secret> value = field.is_string() ? Secret::copyFrom(field.get_ref<const std::string&>()) : [&] {
      std::string text = field.dump();
      auto s = Secret::copyFrom(text);
      secureWipe(text.data(), text.size());
      return s;
    }();
    if (value) {
      out.value = std::move(*value);
      result = std::move(out);
    } else {
      result = unavailable("cannot allocate protected memory");
    }
  }
  wipeJsonStrings(doc);
  return result;
}

}  // namespace sealgate::providers
