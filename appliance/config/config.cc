#include "appliance/config/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/kv_request.h"
#include "core/secret_uri.h"
#include "core/json_parse.h"

namespace sealgate::appliance {
namespace {

using nlohmann::json;

Error configError(const std::string& message) { return makeError(ErrorCode::ConfigInvalid, message); }

// Reads one section, rejecting unknown keys and wrong types.
class Section {
 public:
  Section(const json& j, std::string path) : j_(j), path_(std::move(path)) {}

  Result<void> allowOnly(std::initializer_list<const char*> keys) const {
    if (!j_.is_object()) return configError(path_ + " must be an object");
    std::set<std::string> allowed(keys.begin(), keys.end());
    for (const auto& [k, v] : j_.items()) {
      if (!allowed.count(k)) return configError("unknown setting " + path_ + "." + k);
    }
    return Ok{};
  }
  Result<void> str(const char* key, std::string& out) const {
    if (!j_.contains(key)) return Ok{};
    if (!j_[key].is_string()) return configError(path_ + "." + key + " must be a string");
    out = j_[key].get<std::string>();
    return Ok{};
  }
  template <typename N>
  Result<void> num(const char* key, N& out, std::uint64_t min, std::uint64_t max) const {
    if (!j_.contains(key)) return Ok{};
    if (!j_[key].is_number_unsigned()) return configError(path_ + "." + key + " must be a non-negative integer");
    auto v = j_[key].get<std::uint64_t>();
    if (v < min || v > max) {
      return configError(path_ + "." + key + " must be in " + std::to_string(min) + ".." + std::to_string(max));
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
  Result<bool> boolean(const char* key) const {
    if (!j_[key].is_boolean()) return configError(path_ + "." + key + " must be true or false");
    return j_[key].get<bool>();
  }
  Section sub(const char* key) const { return Section(j_.contains(key) ? j_[key] : kEmpty(), path_ + "." + key); }

 private:
  static const json& kEmpty() {
    static const json empty = json::object();
    return empty;
  }
  const json& j_;
  std::string path_;
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

bool isWildcardHost(const std::string& host) { return host.empty() || host == "0.0.0.0" || host == "::" || host == "*"; }

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
  const std::string authority = url.substr(kScheme.size(), slash == std::string::npos ? std::string::npos
                                                                                       : slash - kScheme.size());
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

Result<Config> Config::parse(const std::string& text, const std::string& baseDir) {
  auto parsed = parseJson(text, {.allowComments = true});
  if (!parsed) return configError("the configuration is not valid JSON (" + parsed.error().describe() + ")");
  json j = std::move(*parsed);
  Config c;
  Section root(j, "config");
  SEALGATE_TRY(root.allowOnly({"name", "pep", "admin", "hsm", "limits", "grants", "pdp", "audit", "policy_file",
                               "data_dir", "log", "tpm", "state", "kv", "databases", "leases", "mode", "files", "vault", "connectors"}));
  SEALGATE_TRY(root.str("policy_file", c.policyFile));
  SEALGATE_TRY(root.str("name", c.name));
  SEALGATE_TRY(root.str("data_dir", c.dataDir));
  SEALGATE_TRY(readListener(root.sub("pep"), c.pep));
  SEALGATE_TRY(readListener(root.sub("admin"), c.admin));

  Section hsm = root.sub("hsm");
  SEALGATE_TRY(hsm.allowOnly({"module", "token_label", "pin_file", "pin_env", "softhsm2_conf", "max_sessions",
                              "tls_key_label", "ref_key_version"}));
  SEALGATE_TRY(hsm.str("module", c.hsm.module));
  SEALGATE_TRY(hsm.str("token_label", c.hsm.tokenLabel));
  SEALGATE_TRY(hsm.str("pin_file", c.hsm.pinFile));
  SEALGATE_TRY(hsm.str("pin_env", c.hsm.pinEnv));
  SEALGATE_TRY(hsm.str("softhsm2_conf", c.hsm.softhsm2Conf));
  SEALGATE_TRY(hsm.num("max_sessions", c.hsm.maxSessions, 1, 1024));
  SEALGATE_TRY(hsm.str("tls_key_label", c.hsm.tlsKeyLabel));
  SEALGATE_TRY(hsm.num("ref_key_version", c.hsm.refKeyVersion, 0, 1000000));

  Section limits = root.sub("limits");
  SEALGATE_TRY(limits.allowOnly({"max_body_bytes", "request_deadline_ms", "keepalive_timeout_ms", "max_connections",
                                 "worker_threads", "max_connections_per_peer", "handshake_timeout_ms"}));
  SEALGATE_TRY(limits.num("max_body_bytes", c.limits.maxBodyBytes, 256, 16 * 1024 * 1024));
  SEALGATE_TRY(limits.millis("request_deadline_ms", c.limits.requestDeadline, 100, 600000));
  SEALGATE_TRY(limits.millis("keepalive_timeout_ms", c.limits.keepAliveTimeout, 100, 600000));
  SEALGATE_TRY(limits.num("max_connections", c.limits.maxConnections, 1, 100000));
  SEALGATE_TRY(limits.num("worker_threads", c.limits.workerThreads, 1, 1024));
  if (c.limits.keepAliveTimeout >= c.limits.requestDeadline) {
    return configError("limits.keepalive_timeout_ms must be below limits.request_deadline_ms");
  }
  if (c.limits.workerThreads > c.limits.maxConnections) {
    return configError("limits.worker_threads must not exceed limits.max_connections");
  }
  SEALGATE_TRY(limits.millis("handshake_timeout_ms", c.limits.handshakeTimeout, 100, 60000));
  if (limits.has("max_connections_per_peer")) {
    SEALGATE_TRY(limits.num("max_connections_per_peer", c.limits.maxConnectionsPerPeer, 1, 100000));
    if (c.limits.maxConnectionsPerPeer > c.limits.maxConnections) {
      return configError("limits.max_connections_per_peer must not exceed limits.max_connections");
    }
  } else {
    c.limits.maxConnectionsPerPeer = std::min(c.limits.maxConnectionsPerPeer, c.limits.maxConnections);
  }

  Section grants = root.sub("grants");
  SEALGATE_TRY(grants.allowOnly({"max_ttl_seconds", "max_uses", "dpop_iat_window_seconds", "max_delegation_depth",
                                 "dpop_nonce_required"}));
  if (root.sub("grants").has("dpop_nonce_required")) {
    SEALGATE_ASSIGN_OR_RETURN(auto v, root.sub("grants").boolean("dpop_nonce_required"));
    c.grants.dpopNonce = v;
  }
  SEALGATE_TRY(grants.num("max_delegation_depth", c.grants.maxDelegationDepth, 1, 16));
  {
    std::uint64_t ttl = static_cast<std::uint64_t>(c.grants.maxTtl.count());
    std::uint64_t window = static_cast<std::uint64_t>(c.grants.dpopIatWindow.count());
    SEALGATE_TRY(grants.num("max_ttl_seconds", ttl, 1, 86400));
    SEALGATE_TRY(grants.num("max_uses", c.grants.maxUses, 1, 1000000));
    SEALGATE_TRY(grants.num("dpop_iat_window_seconds", window, 5, 600));
    c.grants.maxTtl = std::chrono::seconds(ttl);
    c.grants.dpopIatWindow = std::chrono::seconds(window);
  }

  Section pdp = root.sub("pdp");
  SEALGATE_TRY(pdp.allowOnly({"type", "url", "ca_file", "cert_file", "key_file", "timeout_ms", "negative_cache_ms",
                              "positive_cache_ms"}));
  SEALGATE_TRY(pdp.millis("negative_cache_ms", c.pdp.negativeCache, 0, 60000));
  SEALGATE_TRY(pdp.millis("positive_cache_ms", c.pdp.positiveCache, 0, 3600000));
  SEALGATE_TRY(pdp.str("type", c.pdp.type));
  SEALGATE_TRY(pdp.str("url", c.pdp.url));
  SEALGATE_TRY(pdp.str("ca_file", c.pdp.caFile));
  SEALGATE_TRY(pdp.str("cert_file", c.pdp.certFile));
  SEALGATE_TRY(pdp.str("key_file", c.pdp.keyFile));
  SEALGATE_TRY(pdp.millis("timeout_ms", c.pdp.timeout, 10, 60000));
  if (c.pdp.type != "embedded" && c.pdp.type != "opa" && c.pdp.type != "authzen") {
    return configError("pdp.type must be embedded, opa or authzen");
  }
  if (c.pdp.type != "embedded" &&
      (c.pdp.url.empty() || c.pdp.caFile.empty() || c.pdp.certFile.empty() || c.pdp.keyFile.empty())) {
    return configError("pdp.url, pdp.ca_file, pdp.cert_file and pdp.key_file are required for an external PDP");
  }

  Section tpm = root.sub("tpm");
  SEALGATE_TRY(tpm.allowOnly({"tcti", "pcrs", "nv_index"}));
  SEALGATE_TRY(tpm.str("tcti", c.tpm.tcti));
  if (j.contains("tpm") && j["tpm"].contains("nv_index") && j["tpm"]["nv_index"].is_string()) {
    const std::string text = j["tpm"]["nv_index"];
    char* end = nullptr;
    const unsigned long v = std::strtoul(text.c_str(), &end, 16);
    if (text.size() < 3 || text.rfind("0x", 0) != 0 || *end != '\0' || v < 0x01000000 || v > 0x01ffffff) {
      return configError("tpm.nv_index must be an NV index handle such as \"0x01500020\"");
    }
    c.tpm.nvIndex = static_cast<std::uint32_t>(v);
  } else {
    SEALGATE_TRY(tpm.num("nv_index", c.tpm.nvIndex, 0x01000000, 0x01ffffff));
  }
  if (j.contains("tpm") && j["tpm"].contains("pcrs")) {
    const json& pcrs = j["tpm"]["pcrs"];
    if (!pcrs.is_array() || pcrs.empty()) return configError("tpm.pcrs must be a non-empty array of PCR indices");
    c.tpm.pcrs.clear();
    for (const auto& p : pcrs) {
      if (!p.is_number_unsigned() || p.get<unsigned>() > 23) return configError("tpm.pcrs entries must be 0..23");
      c.tpm.pcrs.push_back(p.get<unsigned>());
    }
  }

  Section state = root.sub("state");
  SEALGATE_TRY(state.allowOnly({"dir", "rollback_protection", "commit_wait_ms", "checkpoint_interval_ms",
                                "max_live_entries", "compact_min_bytes"}));
  SEALGATE_TRY(state.str("dir", c.state.dir));
  SEALGATE_TRY(state.str("rollback_protection", c.state.rollbackProtection));
  SEALGATE_TRY(state.millis("commit_wait_ms", c.state.commitWait, 10, 60000));
  SEALGATE_TRY(state.millis("checkpoint_interval_ms", c.state.checkpointInterval, 100, 86400000));
  SEALGATE_TRY(state.num("max_live_entries", c.state.maxLiveEntries, 100, 1000000000));
  SEALGATE_TRY(state.num("compact_min_bytes", c.state.compactMinBytes, 4096, 1ull << 40));

  Section kvs = root.sub("kv");
  SEALGATE_TRY(kvs.allowOnly({"dir", "default_namespace", "mounts"}));
  SEALGATE_TRY(kvs.str("dir", c.kv.dir));
  SEALGATE_TRY(kvs.str("default_namespace", c.kv.defaultNamespace));
  if (j.contains("kv") && j["kv"].contains("mounts")) {
    const json& m = j["kv"]["mounts"];
    if (!m.is_object()) return configError("kv.mounts must map namespaces to arrays of mount names");
    for (const auto& [ns, list] : m.items()) {
      if (!isValidTenantName(ns)) return configError("kv.mounts: a namespace must be a valid tenant name");
      if (!list.is_array()) return configError("kv.mounts." + ns + " must be an array of mount names");
      for (const auto& mount : list) {
        auto parsed = mount.is_string() ? SecretUri::parse("secret://" + ns + "/" + mount.get<std::string>() + "/x")
                                        : Result<SecretUri>(makeError(ErrorCode::ConfigInvalid, "not a string"));
        if (!parsed || parsed->mount() != mount.get<std::string>()) {
          return configError("kv.mounts." + ns + ": mount names follow the URI mount rule");
        }
        c.kv.mounts[ns].push_back(mount.get<std::string>());
      }
    }
  }
  if (!c.kv.defaultNamespace.empty() && !isValidTenantName(c.kv.defaultNamespace)) {
    return configError("kv.default_namespace must be a valid tenant name");
  }
  if (c.kv.dir.empty()) c.kv.dir = (c.dataDir.empty() ? std::string(".") : c.dataDir) + "/kv";

  if (j.contains("databases")) {
    const json& dbs = j["databases"];
    if (!dbs.is_array()) return configError("databases must be an array of database mounts");
    for (std::size_t i = 0; i < dbs.size(); ++i) {
      const std::string where = "databases[" + std::to_string(i) + "]";
      Section d(dbs[i], where);
      SEALGATE_TRY(d.allowOnly({"tenant", "mount", "connection", "roles"}));
      providers::DatabaseMount m;
      SEALGATE_TRY(d.str("tenant", m.tenant));
      SEALGATE_TRY(d.str("mount", m.mount));
      auto probe = SecretUri::parse("secret://" + m.tenant + "/" + m.mount + "/x");
      if (!probe || probe->tenant() != m.tenant || probe->mount() != m.mount) {
        return configError(where + ": tenant and mount must follow the URI tenant and mount rules");
      }
      for (const auto& other : c.databases) {
        if (other.tenant == m.tenant && other.mount == m.mount) return configError(where + " repeats a mount");
      }
      if (c.kv.mounts.count(m.tenant) &&
          std::find(c.kv.mounts[m.tenant].begin(), c.kv.mounts[m.tenant].end(), m.mount) != c.kv.mounts[m.tenant].end()) {
        return configError(where + ".mount is already a KV mount of that tenant");
      }
      Section conn = d.sub("connection");
      SEALGATE_TRY(conn.allowOnly({"host", "port", "dbname", "user", "password_file", "connect_timeout_seconds"}));
      SEALGATE_TRY(conn.str("host", m.connection.host));
      SEALGATE_TRY(conn.num("port", m.connection.port, 1, 65535));
      SEALGATE_TRY(conn.str("dbname", m.connection.dbname));
      SEALGATE_TRY(conn.str("user", m.connection.user));
      SEALGATE_TRY(conn.str("password_file", m.connection.passwordFile));
      std::uint64_t timeout = 5;
      SEALGATE_TRY(conn.num("connect_timeout_seconds", timeout, 1, 60));
      m.connection.connectTimeout = std::chrono::seconds(timeout);
      if (m.connection.host.empty()) return configError(where + ".connection.host is required");
      resolve(m.connection.passwordFile, baseDir);
      if (!dbs[i].contains("roles") || !dbs[i]["roles"].is_object() || dbs[i]["roles"].empty()) {
        return configError(where + ".roles must name at least one role");
      }
      for (const auto& [name, r] : dbs[i]["roles"].items()) {
        const std::string rw = where + ".roles." + name.substr(0, 64);
        auto seg = SecretUri::parse("secret://" + m.tenant + "/" + m.mount + "/" + name);
        if (!seg || seg->joinedPath() != name || name.size() > 64 ||
            name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
          return configError(rw + ": role names are 1-64 characters of [a-z0-9_-]");
        }
        Section rs(r, rw);
        SEALGATE_TRY(rs.allowOnly({"creation_statements", "revocation_statements", "default_ttl", "max_ttl"}));
        providers::DatabaseRole role;
        for (const char* key : {"creation_statements", "revocation_statements"}) {
          if (!r.contains(key)) continue;
          if (!r[key].is_array()) return configError(rw + "." + key + " must be an array of SQL statements");
          for (const auto& st : r[key]) {
            if (!st.is_string() || st.get<std::string>().empty()) return configError(rw + "." + key + " holds a non-string");
            (std::string(key) == "creation_statements" ? role.creationStatements : role.revocationStatements)
                .push_back(st.get<std::string>());
          }
        }
        for (const char* key : {"default_ttl", "max_ttl"}) {
          if (!r.contains(key)) continue;
          auto d2 = kv::parseGoDuration(r[key]);
          if (!d2 || d2->count() == 0) return configError(rw + "." + key + " must be a positive duration (\"1h\" or seconds)");
          (std::string(key) == "default_ttl" ? role.defaultTtl : role.maxTtl) = *d2;
        }
        if (role.defaultTtl > role.maxTtl) return configError(rw + ": default_ttl must not exceed max_ttl");
        m.roles[name] = std::move(role);
      }
      c.databases.push_back(std::move(m));
    }
  }
  SEALGATE_TRY(root.str("mode", c.mode));
  if (c.mode != "production" && c.mode != "development") return configError("mode must be production or development");
  if (j.contains("files")) {
    const json& files = j["files"];
    if (!files.is_array()) return configError("files must be an array of file provider mounts");
    for (std::size_t i = 0; i < files.size(); ++i) {
      const std::string where = "files[" + std::to_string(i) + "]";
      Section f(files[i], where);
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
      c.files.push_back(std::move(fm));
    }
    if (!c.files.empty() && c.mode == "production") {
      return configError("files: the file provider is for development and is refused in production mode");
    }
  }
  Section vault = root.sub("vault");
  SEALGATE_TRY(vault.allowOnly({"address", "ca_file", "cert_file", "key_file", "token_file", "approle", "namespace",
                                "mounts", "max_attempts", "backoff_ms", "timeout_ms"}));
  SEALGATE_TRY(vault.str("address", c.vault.address));
  SEALGATE_TRY(vault.str("ca_file", c.vault.caFile));
  SEALGATE_TRY(vault.str("cert_file", c.vault.certFile));
  SEALGATE_TRY(vault.str("key_file", c.vault.keyFile));
  SEALGATE_TRY(vault.str("token_file", c.vault.tokenFile));
  SEALGATE_TRY(vault.str("namespace", c.vault.nameSpace));
  SEALGATE_TRY(vault.num("max_attempts", c.vault.maxAttempts, 1, 10));
  SEALGATE_TRY(vault.millis("backoff_ms", c.vault.backoff, 1, 60000));
  SEALGATE_TRY(vault.millis("timeout_ms", c.vault.timeout, 100, 120000));
  Section approle = vault.sub("approle");
  SEALGATE_TRY(approle.allowOnly({"mount", "role_id", "secret_id_file"}));
  SEALGATE_TRY(approle.str("mount", c.vault.appRoleMount));
  SEALGATE_TRY(approle.str("role_id", c.vault.roleId));
  SEALGATE_TRY(approle.str("secret_id_file", c.vault.secretIdFile));
  if (j.contains("vault") && j["vault"].contains("mounts")) {
    const json& mounts = j["vault"]["mounts"];
    if (!mounts.is_object() || mounts.empty()) {
      return configError("vault.mounts must map \"<tenant>/<mount>\" to the Vault KV v2 mount path");
    }
    for (const auto& [key, path] : mounts.items()) {
      auto probe = SecretUri::parse("secret://" + key + "/x");
      if (!probe || probe->tenant() + "/" + probe->mount() != key || !path.is_string() ||
          path.get<std::string>().empty()) {
        return configError("vault.mounts: \"<tenant>/<mount>\" to a Vault KV v2 mount path");
      }
      c.vault.mounts[key] = path.get<std::string>();
    }
  }
  if (c.vault.address.empty() != c.vault.mounts.empty()) {
    return configError("vault needs both an address and its mounts");
  }
  for (std::string* p : {&c.vault.caFile, &c.vault.certFile, &c.vault.keyFile, &c.vault.tokenFile,
                         &c.vault.secretIdFile}) {
    resolve(*p, baseDir);
  }

  Section connectors = root.sub("connectors");
  SEALGATE_TRY(connectors.allowOnly({"ca_file", "timeout_ms", "max_response_bytes"}));
  SEALGATE_TRY(connectors.str("ca_file", c.connectors.caFile));
  SEALGATE_TRY(connectors.millis("timeout_ms", c.connectors.timeout, 100, 300000));
  SEALGATE_TRY(connectors.num("max_response_bytes", c.connectors.maxResponseBytes, 1024, 64 * 1024 * 1024));
  resolve(c.connectors.caFile, baseDir);
  if (c.connectors.timeout >= c.limits.requestDeadline) {
    if (connectors.has("timeout_ms")) {
      return configError("connectors.timeout_ms must be below limits.request_deadline_ms (the answer must still fit)");
    }
    c.connectors.timeout = c.limits.requestDeadline / 2;  // the default, shrunk to fit a short deadline
  }

  Section leases = root.sub("leases");
  SEALGATE_TRY(leases.allowOnly({"reap_interval_ms"}));
  SEALGATE_TRY(leases.millis("reap_interval_ms", c.leaseReapInterval, 100, 3600000));
  Section audit = root.sub("audit");
  SEALGATE_TRY(audit.allowOnly({"checkpoint_every", "checkpoint_interval_ms", "append_timeout_ms", "sample_allow", "kafka"}));
  SEALGATE_TRY(audit.num("checkpoint_every", c.audit.checkpointEvery, 1, 100000000));
  SEALGATE_TRY(audit.millis("checkpoint_interval_ms", c.audit.checkpointInterval, 10, 86400000));
  SEALGATE_TRY(audit.millis("append_timeout_ms", c.audit.appendTimeout, 10, 60000));
  SEALGATE_TRY(audit.num("sample_allow", c.audit.sampleAllow, 1, 1000000));
  Section kafka = audit.sub("kafka");
  SEALGATE_TRY(kafka.allowOnly({"bootstrap_servers", "topic"}));
  SEALGATE_TRY(kafka.str("bootstrap_servers", c.audit.kafkaBootstrapServers));
  SEALGATE_TRY(kafka.str("topic", c.audit.kafkaTopic));
  if (c.audit.kafkaTopic.empty()) return configError("audit.kafka.topic must not be empty");

  Section log = root.sub("log");
  SEALGATE_TRY(log.allowOnly({"level", "file"}));
  SEALGATE_TRY(log.str("level", c.logLevel));
  SEALGATE_TRY(log.str("file", c.logFile));
  static const std::set<std::string> kLevels{"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!kLevels.count(c.logLevel)) return configError("log.level must be one of trace, debug, info, warn, error");

  if (!c.hsm.pinFile.empty() && !c.hsm.pinEnv.empty()) {
    return configError("set hsm.pin_file or hsm.pin_env, not both");
  }
  if (c.hsm.pinFile.empty() && c.hsm.pinEnv.empty()) return configError("hsm.pin_file or hsm.pin_env is required");
  if (c.state.rollbackProtection != "tpm" && c.state.rollbackProtection != "none") {
    return configError("state.rollback_protection must be said explicitly: \"tpm\" (TPM NV counter) or \"none\"");
  }
  if (c.state.rollbackProtection == "tpm" && c.tpm.tcti.empty()) {
    return configError("state.rollback_protection \"tpm\" needs tpm.tcti");
  }
  for (auto* l : {&c.pep, &c.admin}) {
    if (l->caFile.empty() || l->certFile.empty()) {
      return configError("pep and admin need ca_file and cert_file");
    }
    if (!l->publicUrl.empty()) {
      SEALGATE_TRY(parsePublicUrl(l->publicUrl));
    }
  }
  // DPoP proofs name the URL the client used (htu); it must come from here, never
  // from a request's Host header. Only a development instance may fall back to
  // its listen address, and only a concrete one.
  if (c.pep.publicUrl.empty()) {
    if (c.mode != "development") {
      return configError("pep.public_url is required (the URL clients use, e.g. https://sealgate.example.com:8443); "
                         "only mode \"development\" may leave it out");
    }
    if (isWildcardHost(listenHost(c.pep.listen))) {
      return configError("pep.public_url is required when pep.listen is a wildcard address");
    }
  }
  if (c.state.dir.empty()) c.state.dir = (c.dataDir.empty() ? std::string(".") : c.dataDir) + "/state";
  for (std::string* p : {&c.pep.caFile, &c.pep.certFile, &c.pep.crlFile, &c.admin.caFile, &c.admin.certFile,
                         &c.admin.crlFile, &c.hsm.pinFile,
                         &c.hsm.softhsm2Conf, &c.dataDir, &c.logFile, &c.policyFile, &c.pdp.caFile,
                         &c.pdp.certFile, &c.pdp.keyFile, &c.state.dir, &c.kv.dir}) {
    resolve(*p, baseDir);
  }
  return c;
}

Result<Config> Config::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return configError("cannot read configuration file " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto base = std::filesystem::absolute(path).parent_path().string();
  return parse(text, base);
}

}  // namespace sealgate::appliance
