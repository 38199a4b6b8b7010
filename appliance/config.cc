#include "appliance/config.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

namespace sealgate::appliance {
namespace {

using nlohmann::json;

Error configError(const std::string& message) { return makeError("CONFIG_INVALID", message); }

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
  SEALGATE_TRY(s.allowOnly({"listen", "ca_file", "cert_file", "public_url"}));
  SEALGATE_TRY(s.str("listen", l.listen));
  SEALGATE_TRY(s.str("ca_file", l.caFile));
  SEALGATE_TRY(s.str("cert_file", l.certFile));
  SEALGATE_TRY(s.str("public_url", l.publicUrl));
  return Ok{};
}

void resolve(std::string& path, const std::string& baseDir) {
  if (!path.empty() && !std::filesystem::path(path).is_absolute()) {
    path = (std::filesystem::path(baseDir) / path).lexically_normal().string();
  }
}

}  // namespace

Result<Config> Config::parse(const std::string& text, const std::string& baseDir) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
  if (j.is_discarded()) return configError("the configuration is not valid JSON");
  Config c;
  Section root(j, "config");
  SEALGATE_TRY(root.allowOnly({"name", "pep", "admin", "hsm", "limits", "grants", "pdp", "audit", "policy_file",
                               "data_dir", "log", "tpm", "state"}));
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
                                 "worker_threads"}));
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

  Section grants = root.sub("grants");
  SEALGATE_TRY(grants.allowOnly({"max_ttl_seconds", "max_uses", "dpop_iat_window_seconds", "max_delegation_depth",
                                 "dpop_nonce_required"}));
  if (root.sub("grants").has("dpop_nonce_required")) {
    auto v = root.sub("grants").boolean("dpop_nonce_required");
    if (!v) return std::move(v).takeError();
    c.grants.dpopNonce = *v;
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
  }
  if (c.state.dir.empty()) c.state.dir = (c.dataDir.empty() ? std::string(".") : c.dataDir) + "/state";
  for (std::string* p : {&c.pep.caFile, &c.pep.certFile, &c.admin.caFile, &c.admin.certFile, &c.hsm.pinFile,
                         &c.hsm.softhsm2Conf, &c.dataDir, &c.logFile, &c.policyFile, &c.pdp.caFile,
                         &c.pdp.certFile, &c.pdp.keyFile, &c.state.dir}) {
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
