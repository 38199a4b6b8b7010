#include "appliance/config/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/json_parse.h"
#include "core/kv_request.h"
#include "core/secret_uri.h"

namespace sealgate::appliance {
namespace {

using nlohmann::json;

Error configError(const std::string& message) { return makeError(ErrorCode::ConfigInvalid, message); }

// Every problem a configuration has, each under the key it is about: reading
// goes on past the first one, so a refused start and `sealgate config check`
// list them all.
class Problems {
 public:
  void add(std::string key, std::string message) { list_.push_back({std::move(key), std::move(message)}); }
  // Records the error `r` holds, if any, under `key`; true when there was none.
  template <typename T>
  bool check(const std::string& key, const Result<T>& r) {
    if (r) return true;
    add(key, r.error().message);
    return false;
  }
  bool empty() const { return list_.empty(); }
  std::vector<ConfigProblem> take() { return std::move(list_); }

 private:
  std::vector<ConfigProblem> list_;
};

// Reads one section, rejecting unknown keys and wrong types. With a Problems
// sink, a wrong key or value is recorded there and reading goes on (the
// setting keeps its default); without one, it is returned as the error.
class Section {
 public:
  Section(const json& j, std::string path, Problems* problems = nullptr)
      : j_(j), path_(std::move(path)), problems_(problems) {}

  Result<void> allowOnly(std::initializer_list<const char*> keys) const {
    if (!j_.is_object()) return configError(path_ + " must be an object");
    std::set<std::string> allowed(keys.begin(), keys.end());
    for (const auto& [k, v] : j_.items()) {
      if (!allowed.count(k)) SEALGATE_TRY(problem(k, "unknown setting " + path_ + "." + k));
    }
    return Ok{};
  }
  Result<void> str(const char* key, std::string& out) const {
    if (!j_.contains(key)) return Ok{};
    if (!j_[key].is_string()) return problem(key, path_ + "." + key + " must be a string");
    out = j_[key].get<std::string>();
    return Ok{};
  }
  template <typename N>
  Result<void> num(const char* key, N& out, std::uint64_t min, std::uint64_t max) const {
    if (!j_.contains(key)) return Ok{};
    if (!j_[key].is_number_unsigned()) return problem(key, path_ + "." + key + " must be a non-negative integer");
    auto v = j_[key].get<std::uint64_t>();
    if (v < min || v > max) {
      return problem(key, path_ + "." + key + " must be in " + std::to_string(min) + ".." + std::to_string(max));
    }
    out = static_cast<N>(v);
    return Ok{};
  }
  Result<void> millis(const char* key, std::chrono::milliseconds& out, std::uint64_t min, std::uint64_t max) const {
    std::uint64_t v = static_cast<std::uint64_t>(out.count());
    SEALGATE_TRY(num(key, v, min, max));
    out = std::chrono::milliseconds(v);
    return Ok{};
  }
  bool has(const char* key) const { return j_.contains(key); }
  const json& raw(const char* key) const { return j_.at(key); }  // only after has(key)
  Result<bool> boolean(const char* key) const {
    if (!j_[key].is_boolean()) return configError(path_ + "." + key + " must be true or false");
    return j_[key].get<bool>();
  }
  Section sub(const char* key) const {
    return Section(j_.contains(key) ? j_[key] : kEmpty(), path_ + "." + key, problems_);
  }

 private:
  static const json& kEmpty() {
    static const json empty = json::object();
    return empty;
  }
  // `message` about `key` of this section: recorded (and reading goes on), or the error.
  Result<void> problem(const std::string& key, std::string message) const {
    if (problems_ == nullptr) return configError(message);
    std::string where = path_ + "." + key;
    constexpr std::string_view kRoot = "config.";
    if (where.rfind(kRoot, 0) == 0) where.erase(0, kRoot.size());
    problems_->add(std::move(where), std::move(message));
    return Ok{};
  }
  const json& j_;
  std::string path_;
  Problems* problems_;
};

Result<void> readListener(const Section& s, ListenerConfig& l) {
  SEALGATE_TRY(s.allowOnly({"listen", "ca_file", "cert_file", "public_url", "crl_file"}));
  SEALGATE_TRY(s.str("listen", l.listen));
  SEALGATE_TRY(s.str("ca_file", l.caFile));
  SEALGATE_TRY(s.str("cert_file", l.certFile));
  SEALGATE_TRY(s.str("public_url", l.publicUrl));
  SEALGATE_TRY(s.str("crl_file", l.crlFile));
  return Ok{};
}

// The host of a "host:port" listen address, without IPv6 brackets.
std::string listenHost(const std::string& listen) {
  const auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host;
}

bool isWildcardHost(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "*";
}

void resolve(std::string& path, const std::string& baseDir) {
  if (!path.empty() && !std::filesystem::path(path).is_absolute()) {
    path = (std::filesystem::path(baseDir) / path).lexically_normal().string();
  }
}

}  // namespace

Result<PublicUrl> parsePublicUrl(const std::string& url) {
  const auto bad = [&url](const std::string& why) {
    return configError("public_url must be https://host[:port][/path] (" + why + "): " + url.substr(0, 200));
  };
  constexpr std::string_view kScheme = "https://";
  if (url.size() <= kScheme.size() || url.compare(0, kScheme.size(), kScheme) != 0) return bad("not https");
  if (url.find_first_of("?#@ \t\r\n\\") != std::string::npos) return bad("no userinfo, query, fragment or spaces");
  const auto slash = url.find('/', kScheme.size());
  const std::string authority =
      url.substr(kScheme.size(), slash == std::string::npos ? std::string::npos : slash - kScheme.size());
  PublicUrl out;
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) return bad("unclosed IPv6 literal");
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad("junk after the IPv6 literal");
      port = authority.substr(close + 2);
    }
  } else {
    const auto colon = authority.find(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return bad("no host");
  for (auto& c : out.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (out.host.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-:") != std::string::npos) {
    return bad("the host must be a DNS name or an IP address");
  }
  if (authority.find(':') != std::string::npos && port.empty() && authority.front() != '[') return bad("empty port");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return bad("bad port");
    const unsigned long p = std::stoul(port);
    if (p == 0 || p > 65535) return bad("bad port");
    out.port = static_cast<std::uint16_t>(p);
  }
  out.base = url;
  while (!out.base.empty() && out.base.back() == '/') out.base.pop_back();
  return out;
}

namespace {

// Each closed set's names in the file.
constexpr std::pair<PdpType, const char*> kPdpTypes[] = {
    {PdpType::Embedded, "embedded"}, {PdpType::Opa, "opa"}, {PdpType::Authzen, "authzen"}};
constexpr std::pair<RollbackProtection, const char*> kRollbackProtections[] = {{RollbackProtection::Tpm, "tpm"},
                                                                               {RollbackProtection::None, "none"}};
constexpr std::pair<RunMode, const char*> kRunModes[] = {{RunMode::Production, "production"},
                                                         {RunMode::Development, "development"}};
constexpr std::pair<LogThreshold, const char*> kLogThresholds[] = {
    {LogThreshold::Trace, "trace"}, {LogThreshold::Debug, "debug"}, {LogThreshold::Info, "info"},
    {LogThreshold::Warn, "warn"},   {LogThreshold::Error, "error"}, {LogThreshold::Critical, "critical"},
    {LogThreshold::Off, "off"}};

template <typename E, std::size_t N>
std::optional<E> fromName(const std::pair<E, const char*> (&table)[N], const std::string& name) {
  for (const auto& [value, text] : table) {
    if (name == text) return value;
  }
  return std::nullopt;
}

template <typename E, std::size_t N>
const char* nameOf(const std::pair<E, const char*> (&table)[N], E value) {
  for (const auto& [v, text] : table) {
    if (v == value) return text;
  }
  return "?";
}

// The root's own settings; every section's name is one of its keys.
Result<void> readTopLevel(const Section& root, Config& c) {
  SEALGATE_TRY(root.allowOnly({"name",      "pep",         "admin",    "hsm",   "limits", "grants",     "pdp",
                               "audit",     "policy_file", "data_dir", "log",   "tpm",    "state",      "kv",
                               "databases", "leases",      "mode",     "files", "vault",  "connectors", "breakglass"}));
  SEALGATE_TRY(root.str("policy_file", c.policyFile));
  SEALGATE_TRY(root.str("name", c.name));
  SEALGATE_TRY(root.str("data_dir", c.dataDir));
  return Ok{};
}

Result<void> readHsm(const Section& s, HsmSettings& hsm) {
  SEALGATE_TRY(s.allowOnly({"module", "token_label", "pin_file", "pin_env", "softhsm2_conf", "max_sessions",
                            "tls_key_label", "ref_key_version"}));
  SEALGATE_TRY(s.str("module", hsm.module));
  SEALGATE_TRY(s.str("token_label", hsm.tokenLabel));
  SEALGATE_TRY(s.str("pin_file", hsm.pinFile));
  SEALGATE_TRY(s.str("pin_env", hsm.pinEnv));
  SEALGATE_TRY(s.str("softhsm2_conf", hsm.softhsm2Conf));
  SEALGATE_TRY(s.num("max_sessions", hsm.maxSessions, 1, 1024));
  SEALGATE_TRY(s.str("tls_key_label", hsm.tlsKeyLabel));
  SEALGATE_TRY(s.num("ref_key_version", hsm.refKeyVersion, 0, 1000000));
  return Ok{};
}

Result<void> readLimits(const Section& s, Limits& l) {
  SEALGATE_TRY(s.allowOnly({"max_body_bytes", "request_deadline_ms", "keepalive_timeout_ms", "max_connections",
                            "worker_threads", "max_connections_per_peer", "handshake_timeout_ms"}));
  SEALGATE_TRY(s.num("max_body_bytes", l.maxBodyBytes, 256, 16 * 1024 * 1024));
  SEALGATE_TRY(s.millis("request_deadline_ms", l.requestDeadline, 100, 600000));
  SEALGATE_TRY(s.millis("keepalive_timeout_ms", l.keepAliveTimeout, 100, 600000));
  SEALGATE_TRY(s.num("max_connections", l.maxConnections, 1, 100000));
  SEALGATE_TRY(s.num("worker_threads", l.workerThreads, 1, 1024));
  if (l.keepAliveTimeout >= l.requestDeadline) {
    return configError("limits.keepalive_timeout_ms must be below limits.request_deadline_ms");
  }
  if (l.workerThreads > l.maxConnections) {
    return configError("limits.worker_threads must not exceed limits.max_connections");
  }
  SEALGATE_TRY(s.millis("handshake_timeout_ms", l.handshakeTimeout, 100, 60000));
  if (s.has("max_connections_per_peer")) {
    SEALGATE_TRY(s.num("max_connections_per_peer", l.maxConnectionsPerPeer, 1, 100000));
    if (l.maxConnectionsPerPeer > l.maxConnections) {
      return configError("limits.max_connections_per_peer must not exceed limits.max_connections");
    }
  } else {
    l.maxConnectionsPerPeer = std::min(l.maxConnectionsPerPeer, l.maxConnections);
  }
  return Ok{};
}

Result<void> readGrants(const Section& s, GrantSettings& g) {
  SEALGATE_TRY(s.allowOnly(
      {"max_ttl_seconds", "max_uses", "dpop_iat_window_seconds", "max_delegation_depth", "dpop_nonce_required"}));
  if (s.has("dpop_nonce_required")) {
    SEALGATE_ASSIGN_OR_RETURN(auto v, s.boolean("dpop_nonce_required"));
    g.dpopNonce = v;
  }
  SEALGATE_TRY(s.num("max_delegation_depth", g.maxDelegationDepth, 1, 16));
  std::uint64_t ttl = static_cast<std::uint64_t>(g.maxTtl.count());
  std::uint64_t window = static_cast<std::uint64_t>(g.dpopIatWindow.count());
  SEALGATE_TRY(s.num("max_ttl_seconds", ttl, 1, 86400));
  SEALGATE_TRY(s.num("max_uses", g.maxUses, 1, 1000000));
  SEALGATE_TRY(s.num("dpop_iat_window_seconds", window, 5, 600));
  g.maxTtl = std::chrono::seconds(ttl);
  g.dpopIatWindow = std::chrono::seconds(window);
  return Ok{};
}

Result<void> readPdp(const Section& s, PdpSettings& pdp) {
  SEALGATE_TRY(s.allowOnly(
      {"type", "url", "ca_file", "cert_file", "key_file", "timeout_ms", "negative_cache_ms", "positive_cache_ms"}));
  SEALGATE_TRY(s.millis("negative_cache_ms", pdp.negativeCache, 0, 60000));
  SEALGATE_TRY(s.millis("positive_cache_ms", pdp.positiveCache, 0, 3600000));
  std::string type = pdpTypeName(pdp.type);
  SEALGATE_TRY(s.str("type", type));
  SEALGATE_TRY(s.str("url", pdp.url));
  SEALGATE_TRY(s.str("ca_file", pdp.caFile));
  SEALGATE_TRY(s.str("cert_file", pdp.certFile));
  SEALGATE_TRY(s.str("key_file", pdp.keyFile));
  SEALGATE_TRY(s.millis("timeout_ms", pdp.timeout, 10, 60000));
  const auto kind = fromName(kPdpTypes, type);
  if (!kind) return configError("pdp.type must be embedded, opa or authzen");
  pdp.type = *kind;
  if (pdp.type != PdpType::Embedded &&
      (pdp.url.empty() || pdp.caFile.empty() || pdp.certFile.empty() || pdp.keyFile.empty())) {
    return configError("pdp.url, pdp.ca_file, pdp.cert_file and pdp.key_file are required for an external PDP");
  }
  return Ok{};
}

// tpm.nv_index: a number, or a hex handle string such as "0x01500020".
Result<void> readNvIndex(const Section& s, std::uint32_t& nvIndex) {
  if (!s.has("nv_index") || !s.raw("nv_index").is_string()) {
    return s.num("nv_index", nvIndex, 0x01000000, 0x01ffffff);
  }
  const std::string text = s.raw("nv_index").get<std::string>();
  char* end = nullptr;
  const unsigned long v = std::strtoul(text.c_str(), &end, 16);
  if (text.size() < 3 || text.rfind("0x", 0) != 0 || *end != '\0' || v < 0x01000000 || v > 0x01ffffff) {
    return configError("tpm.nv_index must be an NV index handle such as \"0x01500020\"");
  }
  nvIndex = static_cast<std::uint32_t>(v);
  return Ok{};
}

// A list of SHA-256 PCR indices (0..23): sorted, without repeats.
Result<void> readPcrList(const Section& s, const char* key, const std::string& what, std::vector<unsigned>& out) {
  if (!s.has(key)) return Ok{};
  const json& pcrs = s.raw(key);
  if (!pcrs.is_array() || pcrs.empty()) return configError(what + " must be a non-empty array of PCR indices");
  std::set<unsigned> sorted;
  for (const auto& p : pcrs) {
    if (!p.is_number_unsigned() || p.get<std::uint64_t>() > 23) return configError(what + " entries must be 0..23");
    sorted.insert(p.get<unsigned>());
  }
  out.assign(sorted.begin(), sorted.end());
  return Ok{};
}

Result<void> readTpm(const Section& s, TpmSettings& tpm) {
  SEALGATE_TRY(s.allowOnly({"tcti", "pcrs", "nv_index"}));
  SEALGATE_TRY(s.str("tcti", tpm.tcti));
  SEALGATE_TRY(readNvIndex(s, tpm.nvIndex));
  return readPcrList(s, "pcrs", "tpm.pcrs", tpm.pcrs);
}

Result<void> readState(const Section& s, StateSettingsConfig& state) {
  SEALGATE_TRY(s.allowOnly({"dir", "rollback_protection", "commit_wait_ms", "checkpoint_interval_ms",
                            "max_live_entries", "compact_min_bytes"}));
  SEALGATE_TRY(s.str("dir", state.dir));
  std::string protection;
  SEALGATE_TRY(s.str("rollback_protection", protection));
  // Missing or not one of the names: left unset, and validate() refuses it once
  // every section has been read.
  state.rollbackProtection = fromName(kRollbackProtections, protection);
  SEALGATE_TRY(s.millis("commit_wait_ms", state.commitWait, 10, 60000));
  SEALGATE_TRY(s.millis("checkpoint_interval_ms", state.checkpointInterval, 100, 86400000));
  SEALGATE_TRY(s.num("max_live_entries", state.maxLiveEntries, 100, 1000000000));
  SEALGATE_TRY(s.num("compact_min_bytes", state.compactMinBytes, 4096, 1ull << 40));
  return Ok{};
}

bool isKvMountName(const std::string& ns, const json& mount) {
  if (!mount.is_string()) return false;
  auto parsed = SecretUri::parse("secret://" + ns + "/" + mount.get<std::string>() + "/x");
  return parsed && parsed->mount() == mount.get<std::string>();
}

Result<void> readKvMounts(const json& m, std::map<std::string, std::vector<std::string>>& mounts) {
  if (!m.is_object()) return configError("kv.mounts must map namespaces to arrays of mount names");
  for (const auto& [ns, list] : m.items()) {
    if (!isValidTenantName(ns)) return configError("kv.mounts: a namespace must be a valid tenant name");
    if (!list.is_array()) return configError("kv.mounts." + ns + " must be an array of mount names");
    for (const auto& mount : list) {
      if (!isKvMountName(ns, mount)) return configError("kv.mounts." + ns + ": mount names follow the URI mount rule");
      mounts[ns].push_back(mount.get<std::string>());
    }
  }
  return Ok{};
}

Result<void> readKv(const Section& s, const std::string& dataDir, KvSettings& kv) {
  SEALGATE_TRY(s.allowOnly({"dir", "default_namespace", "mounts"}));
  SEALGATE_TRY(s.str("dir", kv.dir));
  SEALGATE_TRY(s.str("default_namespace", kv.defaultNamespace));
  if (s.has("mounts")) SEALGATE_TRY(readKvMounts(s.raw("mounts"), kv.mounts));
  if (!kv.defaultNamespace.empty() && !isValidTenantName(kv.defaultNamespace)) {
    return configError("kv.default_namespace must be a valid tenant name");
  }
  if (kv.dir.empty()) kv.dir = (dataDir.empty() ? std::string(".") : dataDir) + "/kv";
  return Ok{};
}

bool isKvMount(const KvSettings& kv, const std::string& tenant, const std::string& mount) {
  const auto it = kv.mounts.find(tenant);
  return it != kv.mounts.end() && std::find(it->second.begin(), it->second.end(), mount) != it->second.end();
}

Result<void> readDbConnection(const Section& s, const std::string& where, providers::DatabaseConnection& conn) {
  SEALGATE_TRY(s.allowOnly({"host", "port", "dbname", "user", "password_file", "connect_timeout_seconds"}));
  SEALGATE_TRY(s.str("host", conn.host));
  SEALGATE_TRY(s.num("port", conn.port, 1, 65535));
  SEALGATE_TRY(s.str("dbname", conn.dbname));
  SEALGATE_TRY(s.str("user", conn.user));
  SEALGATE_TRY(s.str("password_file", conn.passwordFile));
  std::uint64_t timeout = 5;
  SEALGATE_TRY(s.num("connect_timeout_seconds", timeout, 1, 60));
  conn.connectTimeout = std::chrono::seconds(timeout);
  if (conn.host.empty()) return configError(where + ".connection.host is required");
  return Ok{};
}

// A role's creation_statements or revocation_statements: non-empty SQL strings.
Result<void> readStatements(const json& role, const std::string& where, const char* key,
                            std::vector<std::string>& out) {
  if (!role.contains(key)) return Ok{};
  if (!role[key].is_array()) return configError(where + "." + key + " must be an array of SQL statements");
  for (const auto& st : role[key]) {
    if (!st.is_string() || st.get<std::string>().empty()) return configError(where + "." + key + " holds a non-string");
    out.push_back(st.get<std::string>());
  }
  return Ok{};
}

Result<void> readRoleTtl(const json& role, const std::string& where, const char* key, std::chrono::seconds& out) {
  if (!role.contains(key)) return Ok{};
  auto ttl = kv::parseGoDuration(role[key]);
  if (!ttl || ttl->count() == 0) {
    return configError(where + "." + key + " must be a positive duration (\"1h\" or seconds)");
  }
  out = *ttl;
  return Ok{};
}

Result<providers::DatabaseRole> readDbRole(const json& r, const std::string& where) {
  SEALGATE_TRY(Section(r, where).allowOnly({"creation_statements", "revocation_statements", "default_ttl", "max_ttl"}));
  providers::DatabaseRole role;
  SEALGATE_TRY(readStatements(r, where, "creation_statements", role.creationStatements));
  SEALGATE_TRY(readStatements(r, where, "revocation_statements", role.revocationStatements));
  SEALGATE_TRY(readRoleTtl(r, where, "default_ttl", role.defaultTtl));
  SEALGATE_TRY(readRoleTtl(r, where, "max_ttl", role.maxTtl));
  if (role.defaultTtl > role.maxTtl) return configError(where + ": default_ttl must not exceed max_ttl");
  return role;
}

Result<void> readDbRoles(const json& entry, const std::string& where, providers::DatabaseMount& m) {
  if (!entry.contains("roles") || !entry["roles"].is_object() || entry["roles"].empty()) {
    return configError(where + ".roles must name at least one role");
  }
  for (const auto& [name, r] : entry["roles"].items()) {
    const std::string rw = where + ".roles." + name.substr(0, 64);
    auto seg = SecretUri::parse("secret://" + m.tenant + "/" + m.mount + "/" + name);
    if (!seg || seg->joinedPath() != name || name.size() > 64 ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
      return configError(rw + ": role names are 1-64 characters of [a-z0-9_-]");
    }
    SEALGATE_ASSIGN_OR_RETURN(m.roles[name], readDbRole(r, rw));
  }
  return Ok{};
}

// One entry of `databases`; `earlier` are the entries before it.
Result<providers::DatabaseMount> readDatabase(const json& entry, const std::string& where, const KvSettings& kv,
                                              const std::vector<providers::DatabaseMount>& earlier,
                                              const std::string& baseDir) {
  Section d(entry, where);
  SEALGATE_TRY(d.allowOnly({"tenant", "mount", "connection", "roles"}));
  providers::DatabaseMount m;
  SEALGATE_TRY(d.str("tenant", m.tenant));
  SEALGATE_TRY(d.str("mount", m.mount));
  auto probe = SecretUri::parse("secret://" + m.tenant + "/" + m.mount + "/x");
  if (!probe || probe->tenant() != m.tenant || probe->mount() != m.mount) {
    return configError(where + ": tenant and mount must follow the URI tenant and mount rules");
  }
  for (const auto& other : earlier) {
    if (other.tenant == m.tenant && other.mount == m.mount) return configError(where + " repeats a mount");
  }
  if (isKvMount(kv, m.tenant, m.mount)) return configError(where + ".mount is already a KV mount of that tenant");
  SEALGATE_TRY(readDbConnection(d.sub("connection"), where, m.connection));
  resolve(m.connection.passwordFile, baseDir);
  SEALGATE_TRY(readDbRoles(entry, where, m));
  return m;
}

// Each entry's problem is recorded under its index, and the next one is read.
Result<void> readDatabases(const Section& root, const KvSettings& kv, const std::string& baseDir,
                           std::vector<providers::DatabaseMount>& out, Problems& problems) {
  if (!root.has("databases")) return Ok{};
  const json& dbs = root.raw("databases");
  if (!dbs.is_array()) return configError("databases must be an array of database mounts");
  for (std::size_t i = 0; i < dbs.size(); ++i) {
    const std::string where = "databases[" + std::to_string(i) + "]";
    auto m = readDatabase(dbs[i], where, kv, out, baseDir);
    if (problems.check(where, m)) out.push_back(std::move(*m));
  }
  return Ok{};
}

Result<void> readMode(const Section& root, RunMode& mode) {
  std::string name = runModeName(mode);
  SEALGATE_TRY(root.str("mode", name));
  const auto parsed = fromName(kRunModes, name);
  if (!parsed) return configError("mode must be production or development");
  mode = *parsed;
  return Ok{};
}

Result<Config::FileMount> readFileMount(const json& entry, const std::string& where, const std::string& baseDir) {
  Section f(entry, where);
  SEALGATE_TRY(f.allowOnly({"tenant", "mount", "path"}));
  Config::FileMount fm;
  SEALGATE_TRY(f.str("tenant", fm.tenant));
  SEALGATE_TRY(f.str("mount", fm.mount));
  SEALGATE_TRY(f.str("path", fm.path));
  auto probe = SecretUri::parse("secret://" + fm.tenant + "/" + fm.mount + "/x");
  if (!probe || probe->tenant() != fm.tenant || probe->mount() != fm.mount || fm.path.empty()) {
    return configError(where + " needs a tenant, a mount and a path");
  }
  resolve(fm.path, baseDir);
  return fm;
}

Result<void> readFiles(const Section& root, RunMode mode, const std::string& baseDir,
                       std::vector<Config::FileMount>& out, Problems& problems) {
  if (!root.has("files")) return Ok{};
  const json& files = root.raw("files");
  if (!files.is_array()) return configError("files must be an array of file provider mounts");
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string where = "files[" + std::to_string(i) + "]";
    auto fm = readFileMount(files[i], where, baseDir);
    if (problems.check(where, fm)) out.push_back(std::move(*fm));
  }
  if (files.size() > 0 && mode == RunMode::Production) {
    return configError("files: the file provider is for development and is refused in production mode");
  }
  return Ok{};
}

Result<void> readVaultMounts(const json& mounts, std::map<std::string, std::string>& out) {
  if (!mounts.is_object() || mounts.empty()) {
    return configError("vault.mounts must map \"<tenant>/<mount>\" to the Vault KV v2 mount path");
  }
  for (const auto& [key, path] : mounts.items()) {
    auto probe = SecretUri::parse("secret://" + key + "/x");
    if (!probe || probe->tenant() + "/" + probe->mount() != key || !path.is_string() ||
        path.get<std::string>().empty()) {
      return configError("vault.mounts: \"<tenant>/<mount>\" to a Vault KV v2 mount path");
    }
    out[key] = path.get<std::string>();
  }
  return Ok{};
}

Result<void> readVault(const Section& s, const std::string& baseDir, providers::VaultClientSettings& v) {
  SEALGATE_TRY(s.allowOnly({"address", "ca_file", "cert_file", "key_file", "token_file", "approle", "namespace",
                            "mounts", "max_attempts", "backoff_ms", "timeout_ms"}));
  SEALGATE_TRY(s.str("address", v.address));
  SEALGATE_TRY(s.str("ca_file", v.caFile));
  SEALGATE_TRY(s.str("cert_file", v.certFile));
  SEALGATE_TRY(s.str("key_file", v.keyFile));
  SEALGATE_TRY(s.str("token_file", v.tokenFile));
  SEALGATE_TRY(s.str("namespace", v.nameSpace));
  SEALGATE_TRY(s.num("max_attempts", v.maxAttempts, 1, 10));
  SEALGATE_TRY(s.millis("backoff_ms", v.backoff, 1, 60000));
  SEALGATE_TRY(s.millis("timeout_ms", v.timeout, 100, 120000));
  const Section approle = s.sub("approle");
  SEALGATE_TRY(approle.allowOnly({"mount", "role_id", "secret_id_file"}));
  SEALGATE_TRY(approle.str("mount", v.appRoleMount));
  SEALGATE_TRY(approle.str("role_id", v.roleId));
  SEALGATE_TRY(approle.str("secret_id_file", v.secretIdFile));
  if (s.has("mounts")) SEALGATE_TRY(readVaultMounts(s.raw("mounts"), v.mounts));
  if (v.address.empty() != v.mounts.empty()) {
    return configError("vault needs both an address and its mounts");
  }
  for (std::string* p : {&v.caFile, &v.certFile, &v.keyFile, &v.tokenFile, &v.secretIdFile}) resolve(*p, baseDir);
  return Ok{};
}

// The connector timeout must leave room in the request deadline (limits, read before).
Result<void> readConnectors(const Section& s, const Limits& limits, const std::string& baseDir,
                            ConnectorSettings& connectors) {
  SEALGATE_TRY(s.allowOnly({"ca_file", "timeout_ms", "max_response_bytes"}));
  SEALGATE_TRY(s.str("ca_file", connectors.caFile));
  SEALGATE_TRY(s.millis("timeout_ms", connectors.timeout, 100, 300000));
  SEALGATE_TRY(s.num("max_response_bytes", connectors.maxResponseBytes, 1024, 64 * 1024 * 1024));
  resolve(connectors.caFile, baseDir);
  if (connectors.timeout < limits.requestDeadline) return Ok{};
  if (s.has("timeout_ms")) {
    return configError("connectors.timeout_ms must be below limits.request_deadline_ms (the answer must still fit)");
  }
  connectors.timeout = limits.requestDeadline / 2;  // the default, shrunk to fit a short deadline
  return Ok{};
}

Result<void> readLeases(const Section& s, std::chrono::milliseconds& reapInterval) {
  SEALGATE_TRY(s.allowOnly({"reap_interval_ms"}));
  SEALGATE_TRY(s.millis("reap_interval_ms", reapInterval, 100, 3600000));
  return Ok{};
}

Result<void> readAudit(const Section& s, AuditSettings& audit) {
  SEALGATE_TRY(
      s.allowOnly({"checkpoint_every", "checkpoint_interval_ms", "append_timeout_ms", "sample_allow", "kafka"}));
  SEALGATE_TRY(s.num("checkpoint_every", audit.checkpointEvery, 1, 100000000));
  SEALGATE_TRY(s.millis("checkpoint_interval_ms", audit.checkpointInterval, 10, 86400000));
  SEALGATE_TRY(s.millis("append_timeout_ms", audit.appendTimeout, 10, 60000));
  SEALGATE_TRY(s.num("sample_allow", audit.sampleAllow, 1, 1000000));
  const Section kafka = s.sub("kafka");
  SEALGATE_TRY(kafka.allowOnly({"bootstrap_servers", "topic"}));
  SEALGATE_TRY(kafka.str("bootstrap_servers", audit.kafkaBootstrapServers));
  SEALGATE_TRY(kafka.str("topic", audit.kafkaTopic));
  if (audit.kafkaTopic.empty()) return configError("audit.kafka.topic must not be empty");
  return Ok{};
}

// breakglass.persons: {"<role>/<name>": "<person>"}, roles of the admin listener.
Result<void> readPersons(const Section& s, std::map<std::string, std::string>& persons) {
  if (!s.has("persons")) return Ok{};
  const json& map = s.raw("persons");
  if (!map.is_object()) return configError("breakglass.persons must be an object of \"<role>/<name>\": \"<person>\"");
  for (const auto& [key, person] : map.items()) {
    const auto slash = key.find('/');
    const std::string role = key.substr(0, slash);
    if (slash == std::string::npos || slash + 1 == key.size() ||
        (role != "admin" && role != "auditor" && role != "approver") || !person.is_string() ||
        person.get<std::string>().empty()) {
      return configError("breakglass.persons entries must map \"admin|auditor|approver/<name>\" to a person name");
    }
    persons[key] = person.get<std::string>();
  }
  return Ok{};
}

Result<void> readBreakGlass(const Section& s, bool present, BreakGlassSettings& bg) {
  if (!present) return Ok{};
  SEALGATE_TRY(s.allowOnly({"quorum", "max_duration_seconds", "request_ttl_seconds", "ek_ca_file", "pcrs",
                            "credential_ttl_seconds", "persons"}));
  bg.enabled = true;
  SEALGATE_TRY(s.num("quorum", bg.quorum, 2, 16));
  SEALGATE_TRY(s.num("max_duration_seconds", bg.maxDurationSeconds, 60, 7 * 86400));
  SEALGATE_TRY(s.num("request_ttl_seconds", bg.requestTtlSeconds, 60, 86400));
  SEALGATE_TRY(s.num("credential_ttl_seconds", bg.credentialTtlSeconds, 30, 3600));
  SEALGATE_TRY(s.str("ek_ca_file", bg.ekCaFile));
  if (bg.ekCaFile.empty()) {
    return configError("breakglass.ek_ca_file is required: the TPM vendor CAs approver devices must chain to");
  }
  SEALGATE_TRY(readPcrList(s, "pcrs", "breakglass.pcrs", bg.approverPcrs));
  return readPersons(s, bg.persons);
}

Result<void> readLog(const Section& s, LogThreshold& level, std::string& file) {
  SEALGATE_TRY(s.allowOnly({"level", "file"}));
  std::string name = logThresholdName(level);
  SEALGATE_TRY(s.str("level", name));
  SEALGATE_TRY(s.str("file", file));
  const auto parsed = fromName(kLogThresholds, name);
  if (!parsed) return configError("log.level must be one of trace, debug, info, warn, error, critical, off");
  level = *parsed;
  return Ok{};
}

// The checks that run once every section is read: settings that are required,
// and those that span sections.
void validate(const Config& c, Problems& problems) {
  if (!c.hsm.pinFile.empty() && !c.hsm.pinEnv.empty()) {
    problems.add("hsm.pin_file", "set hsm.pin_file or hsm.pin_env, not both");
  }
  if (c.hsm.pinFile.empty() && c.hsm.pinEnv.empty()) {
    problems.add("hsm.pin_file", "hsm.pin_file or hsm.pin_env is required");
  }
  if (!c.state.rollbackProtection) {
    problems.add("state.rollback_protection",
                 "state.rollback_protection must be said explicitly: \"tpm\" (TPM NV counter) or \"none\"");
  } else if (*c.state.rollbackProtection == RollbackProtection::Tpm && c.tpm.tcti.empty()) {
    problems.add("tpm.tcti", "state.rollback_protection \"tpm\" needs tpm.tcti");
  }
  for (const auto& [name, l] : {std::pair<const char*, const ListenerConfig*>{"pep", &c.pep}, {"admin", &c.admin}}) {
    for (const auto& [key, value] :
         {std::pair<const char*, const std::string*>{"ca_file", &l->caFile}, {"cert_file", &l->certFile}}) {
      if (value->empty()) problems.add(std::string(name) + "." + key, std::string(name) + "." + key + " is required");
    }
    if (!l->publicUrl.empty()) problems.check(std::string(name) + ".public_url", parsePublicUrl(l->publicUrl));
  }
  // DPoP proofs name the URL the client used (htu); it must come from here, never
  // from a request's Host header. Only a development instance may fall back to
  // its listen address, and only a concrete one.
  if (c.pep.publicUrl.empty()) {
    if (c.mode != RunMode::Development) {
      problems.add("pep.public_url",
                   "pep.public_url is required (the URL clients use, e.g. https://sealgate.example.com:8443); "
                   "only mode \"development\" may leave it out");
    } else if (isWildcardHost(listenHost(c.pep.listen))) {
      problems.add("pep.public_url", "pep.public_url is required when pep.listen is a wildcard address");
    }
  }
}

// The state folder's default, then every remaining relative path against `baseDir`.
void resolvePaths(Config& c, const std::string& baseDir) {
  if (c.state.dir.empty()) c.state.dir = (c.dataDir.empty() ? std::string(".") : c.dataDir) + "/state";
  for (std::string* p :
       {&c.pep.caFile, &c.pep.certFile, &c.pep.crlFile, &c.admin.caFile, &c.admin.certFile, &c.admin.crlFile,
        &c.hsm.pinFile, &c.hsm.softhsm2Conf, &c.dataDir, &c.logFile, &c.policyFile, &c.pdp.caFile, &c.pdp.certFile,
        &c.pdp.keyFile, &c.state.dir, &c.kv.dir, &c.breakglass.ekCaFile}) {
    resolve(*p, baseDir);
  }
}

}  // namespace

const char* pdpTypeName(PdpType type) { return nameOf(kPdpTypes, type); }
const char* rollbackProtectionName(RollbackProtection protection) { return nameOf(kRollbackProtections, protection); }
const char* runModeName(RunMode mode) { return nameOf(kRunModes, mode); }
const char* logThresholdName(LogThreshold level) { return nameOf(kLogThresholds, level); }

ConfigCheck Config::check(const std::string& text, const std::string& baseDir) {
  ConfigCheck out;
  auto parsed = parseJson(text, {.allowComments = true});
  if (!parsed) {
    out.problems.push_back({"", "the configuration is not valid JSON (" + parsed.error().describe() + ")"});
    return out;
  }
  const json j = std::move(*parsed);
  Problems problems;
  const Section root(j, "config", &problems);
  Config c;
  // A section's own errors are recorded by its Section as they are found; what a
  // reader returns (a rule spanning its settings) is recorded under the section.
  if (!problems.check("config", readTopLevel(root, c))) return {std::nullopt, problems.take()};
  problems.check("pep", readListener(root.sub("pep"), c.pep));
  problems.check("admin", readListener(root.sub("admin"), c.admin));
  problems.check("hsm", readHsm(root.sub("hsm"), c.hsm));
  problems.check("limits", readLimits(root.sub("limits"), c.limits));
  problems.check("grants", readGrants(root.sub("grants"), c.grants));
  problems.check("pdp", readPdp(root.sub("pdp"), c.pdp));
  problems.check("tpm", readTpm(root.sub("tpm"), c.tpm));
  problems.check("state", readState(root.sub("state"), c.state));
  problems.check("kv", readKv(root.sub("kv"), c.dataDir, c.kv));
  problems.check("databases", readDatabases(root, c.kv, baseDir, c.databases, problems));
  problems.check("mode", readMode(root, c.mode));
  problems.check("files", readFiles(root, c.mode, baseDir, c.files, problems));
  problems.check("vault", readVault(root.sub("vault"), baseDir, c.vault));
  problems.check("connectors", readConnectors(root.sub("connectors"), c.limits, baseDir, c.connectors));
  problems.check("leases", readLeases(root.sub("leases"), c.leaseReapInterval));
  problems.check("audit", readAudit(root.sub("audit"), c.audit));
  problems.check("breakglass", readBreakGlass(root.sub("breakglass"), root.has("breakglass"), c.breakglass));
  problems.check("log", readLog(root.sub("log"), c.logLevel, c.logFile));
  validate(c, problems);
  if (!problems.empty()) return {std::nullopt, problems.take()};
  resolvePaths(c, baseDir);
  out.config = std::move(c);
  return out;
}

namespace {

// The config, or an error naming every problem.
Result<Config> configOrError(ConfigCheck checked) {
  if (checked.config) return std::move(*checked.config);
  std::string message;
  for (const auto& p : checked.problems) message += (message.empty() ? "" : "; ") + p.message;
  return configError(message);
}

}  // namespace

Result<Config> Config::parse(const std::string& text, const std::string& baseDir) {
  return configOrError(check(text, baseDir));
}

ConfigCheck Config::checkFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {std::nullopt, {{"", "cannot read configuration file " + path}}};
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return check(text, std::filesystem::absolute(path).parent_path().string());
}

Result<Config> Config::load(const std::string& path) { return configOrError(checkFile(path)); }

std::vector<ConfigProblem> unreadableFiles(const Config& c) {
  std::vector<std::pair<std::string, const std::string*>> files = {
      {"pep.ca_file", &c.pep.caFile},
      {"pep.cert_file", &c.pep.certFile},
      {"pep.crl_file", &c.pep.crlFile},
      {"admin.ca_file", &c.admin.caFile},
      {"admin.cert_file", &c.admin.certFile},
      {"admin.crl_file", &c.admin.crlFile},
      {"hsm.module", &c.hsm.module},
      {"hsm.pin_file", &c.hsm.pinFile},
      {"hsm.softhsm2_conf", &c.hsm.softhsm2Conf},
      {"policy_file", &c.policyFile},
      {"pdp.ca_file", &c.pdp.caFile},
      {"pdp.cert_file", &c.pdp.certFile},
      {"pdp.key_file", &c.pdp.keyFile},
      {"breakglass.ek_ca_file", &c.breakglass.ekCaFile},
      {"connectors.ca_file", &c.connectors.caFile},
      {"vault.ca_file", &c.vault.caFile},
      {"vault.cert_file", &c.vault.certFile},
      {"vault.key_file", &c.vault.keyFile},
      {"vault.token_file", &c.vault.tokenFile},
      {"vault.approle.secret_id_file", &c.vault.secretIdFile}};
  for (std::size_t i = 0; i < c.databases.size(); ++i) {
    files.emplace_back("databases[" + std::to_string(i) + "].connection.password_file",
                       &c.databases[i].connection.passwordFile);
  }
  for (std::size_t i = 0; i < c.files.size(); ++i)
    files.emplace_back("files[" + std::to_string(i) + "].path", &c.files[i].path);
  std::vector<ConfigProblem> out;
  for (const auto& [key, path] : files) {
    // A module named without a folder is found by the dynamic loader's search.
    if (path->empty() || (key == "hsm.module" && !std::filesystem::path(*path).is_absolute())) continue;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*path, ec)) {
      out.push_back({key, key + ": no such file: " + *path});
    } else if (::access(path->c_str(), R_OK) != 0) {
      out.push_back({key, key + ": cannot be read by this user: " + *path});
    }
  }
  std::error_code ec;
  if (!c.dataDir.empty() &&
      (!std::filesystem::is_directory(c.dataDir, ec) || ::access(c.dataDir.c_str(), R_OK | W_OK | X_OK) != 0)) {
    out.push_back({"data_dir", "data_dir: not a folder this user can write: " + c.dataDir});
  }
  return out;
}

std::string dataDirLockPath(const Config& config) {
  return (config.dataDir.empty() ? std::string(".") : config.dataDir) + "/sealgated.lock";
}

bool daemonRunsOn(const Config& config) {
  const int fd = ::open(dataDirLockPath(config).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool locked = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
  ::close(fd);
  return locked;
}

}  // namespace sealgate::appliance
