// sealgated's configuration: a JSON file (comments allowed) over embedded
// defaults. Unknown keys are rejected so a typo never silently weakens a setting.
// Reference: docs/CONFIG.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/key_labels.h"
#include "core/result.h"
#include "providers/database_credentials.h"
#include "providers/vault_client.h"

namespace sealgate::appliance {

struct ListenerConfig {
  std::string listen;    // host:port
  std::string caFile;    // PEM bundle that client certificates must chain to
  std::string certFile;  // server certificate (its key is the HSM's tls key)
  std::string
      publicUrl;        // https://host[:port][/prefix]: DPoP htu base and a Host name (required for pep in production)
  std::string crlFile;  // optional: CRLs for ca_file, reloaded when the file changes
};

// A listener's public URL, parsed: "https://" host [":" port] [path], no
// userinfo, query or fragment.
struct PublicUrl {
  std::string host;  // lowercased; IPv6 without brackets
  std::uint16_t port = 443;
  std::string base;  // the URL without a trailing '/'
};
Result<PublicUrl> parsePublicUrl(const std::string& url);

struct HsmSettings {
  std::string module = "/usr/lib/softhsm/libsofthsm2.so";
  std::string tokenLabel = "sealgate";
  std::string pinFile;
  std::string pinEnv;
  std::string softhsm2Conf;  // exported as SOFTHSM2_CONF before the module loads
  std::size_t maxSessions = 8;
  std::string tlsKeyLabel = key_labels::kTls;
  unsigned refKeyVersion = 0;  // 0: the highest sealgate-ref-hmac-vN present
};

struct Limits {
  std::size_t maxBodyBytes = 64 * 1024;
  std::chrono::milliseconds requestDeadline{10000};
  std::chrono::milliseconds keepAliveTimeout{5000};
  std::size_t maxConnections = 64;  // accepted and queued connections beyond this are refused
  std::size_t workerThreads = 16;
  std::size_t maxConnectionsPerPeer = 32;  // open connections from one peer address (capped at max_connections)
  std::chrono::milliseconds handshakeTimeout{3000};  // a TLS handshake not done by then is closed
};

// Guardrails that hold whatever the PDP says (issue 3).
struct GrantSettings {
  std::chrono::seconds maxTtl{3600};
  std::uint32_t maxUses = 1000;
  std::chrono::seconds dpopIatWindow{60};
  std::size_t maxBatch = 128;
  std::size_t maxDelegationDepth = 3;
  bool dpopNonce = false;  // require server-issued DPoP nonces (RFC 9449 §8)
};

// The closed sets of the configuration, each with the name it has in the file.
enum class PdpType { Embedded, Opa, Authzen };
enum class RollbackProtection { Tpm, None };
enum class RunMode { Production, Development };
// log.level: the least severe level written (telemetry's LogLevel is the level of one line).
enum class LogThreshold { Trace, Debug, Info, Warn, Error, Critical, Off };
const char* pdpTypeName(PdpType type);
const char* rollbackProtectionName(RollbackProtection protection);
const char* runModeName(RunMode mode);
const char* logThresholdName(LogThreshold level);

// Which PDP decides authorize batches (docs/CONFIG.md).
struct PdpSettings {
  PdpType type = PdpType::Embedded;
  std::string url;
  std::string caFile;
  std::string certFile;
  std::string keyFile;
  std::chrono::milliseconds timeout{2000};
  std::chrono::milliseconds negativeCache{2000};   // how long a deny is remembered (0: off)
  std::chrono::milliseconds positiveCache{30000};  // how long a cacheable allow is remembered (0: off)
};

// The TPM (attest/): sealing data keys to PCRs and the rollback counter.
struct TpmSettings {
  std::string tcti;               // empty: no TPM. "swtpm:path=...", "device:/dev/tpmrm0"
  std::vector<unsigned> pcrs{7};  // the PCR policy data keys are sealed to (SHA-256 bank)
  std::uint32_t nvIndex = 0x01500020;
};

// The sealed state store (docs/STATE.md).
struct StateSettingsConfig {
  std::string dir;                                       // default: <data_dir>/state
  std::optional<RollbackProtection> rollbackProtection;  // required: "tpm" or "none", said explicitly (set once parsed)
  std::chrono::milliseconds commitWait{2000};
  std::chrono::milliseconds checkpointInterval{60000};
  std::size_t maxLiveEntries = 20'000'000;
  std::uint64_t compactMinBytes = 64ull << 20;
};

// The embedded KV v2 store (docs/PROVIDERS.md): namespaces (tenants) and their mounts.
struct KvSettings {
  std::string dir;               // default: <data_dir>/kv
  std::string defaultNamespace;  // for requests without X-Vault-Namespace; empty: the header is required
  std::map<std::string, std::vector<std::string>> mounts;  // namespace -> KV v2 mounts
};

// The signed audit log and its Kafka sink (docs/AUDIT.md, docs/CONFIG.md).
struct AuditSettings {
  std::uint64_t checkpointEvery = 1000;                 // sign a checkpoint every N entries
  std::chrono::milliseconds checkpointInterval{10000};  // ... or this often when entries are uncovered
  std::chrono::milliseconds appendTimeout{2000};        // bounded wait, then AUDIT_UNAVAILABLE
  std::uint32_t sampleAllow = 1;                        // log 1 in N all-allow authorize events
  std::string kafkaBootstrapServers;                    // empty: no Kafka sink
  std::string kafkaTopic = "sealgate-audit";
};

// POST /v1/execute (docs/CONNECTORS.md). What each tenant's connectors may reach
// is policy (docs/POLICY.md, "egress"); these are the appliance-wide bounds.
struct ConnectorSettings {
  std::string caFile;                       // PEM bundle TLS peers must chain to; empty: the system store
  std::chrono::milliseconds timeout{5000};  // one action, connect included; below limits.request_deadline_ms
  std::size_t maxResponseBytes = 1 << 20;   // what a peer may send back
};

// Break-glass (docs/BREAKGLASS.md): off unless the `breakglass` section is
// present, which then needs ek_ca_file.
struct BreakGlassSettings {
  bool enabled = false;
  std::size_t quorum = 2;                  // M distinct approvals open a window (M >= 2)
  std::int64_t maxDurationSeconds = 3600;  // the longest window a request may ask for
  std::int64_t requestTtlSeconds = 900;    // a request not approved by then expires
  // PEM bundle of the TPM vendor CAs approver devices' EK certificates must chain to.
  std::string ekCaFile;
  // The SHA-256 PCRs an approver device's quotes cover when its enrolment names
  // none (firmware, its configuration, option ROMs, Secure Boot policy, the debug
  // PCR 16), and how long an issued enrolment credential may be activated.
  std::vector<unsigned> approverPcrs = {0, 1, 2, 3, 7, 16};
  std::int64_t credentialTtlSeconds = 300;
  // "<role>/<name>" -> person; unmapped, the person is the <name> (admin/alice and
  // approver/alice are one person).
  std::map<std::string, std::string> persons;
};

// One problem of a configuration: the key it is about ("limits.max_connections",
// "databases[1]"; empty for the file as a whole) and what is wrong.
struct ConfigProblem {
  std::string key;
  std::string message;
};
struct ConfigCheck;

struct Config {
  std::string name = "sealgate";  // iss/aud of grants, checkpoint origin
  ListenerConfig pep{"127.0.0.1:8443", "", "", "", ""};
  ListenerConfig admin{"127.0.0.1:9443", "", "", "", ""};
  HsmSettings hsm;
  Limits limits;
  GrantSettings grants;
  PdpSettings pdp;
  TpmSettings tpm;
  StateSettingsConfig state;
  KvSettings kv;
  std::vector<providers::DatabaseMount> databases;    // PostgreSQL dynamic credentials (docs/PROVIDERS.md)
  std::chrono::milliseconds leaseReapInterval{5000};  // how often expired leases are revoked
  // "production" (the default) or "development": development-only features
  // such as the file provider are refused in production.
  RunMode mode = RunMode::Production;
  struct FileMount {
    std::string tenant, mount, path;
  };
  std::vector<FileMount> files;  // development file provider mounts (docs/PROVIDERS.md)
  // An OpenBao/Vault KV v2 server whose mounts the router serves (docs/PROVIDERS.md); none when address is empty.
  providers::VaultClientSettings vault;
  ConnectorSettings connectors;
  AuditSettings audit;
  BreakGlassSettings breakglass;
  std::string policyFile;  // the embedded PDP's policy (docs/POLICY.md)
  std::string dataDir;
  LogThreshold logLevel = LogThreshold::Info;
  std::string logFile;  // empty: stderr

  // Parses `text`; relative paths are resolved against `baseDir`. The error
  // names every problem, separated by "; ".
  static Result<Config> parse(const std::string& text, const std::string& baseDir);
  static Result<Config> load(const std::string& path);
  // As parse and load, with each problem on its own (`sealgate config check`).
  static ConfigCheck check(const std::string& text, const std::string& baseDir);
  static ConfigCheck checkFile(const std::string& path);
};

// A configuration checked: the config when it has no problem, else every problem found.
struct ConfigCheck {
  std::optional<Config> config;
  std::vector<ConfigProblem> problems;
};

// The files and folders `config` names that are missing or that this process
// cannot read (data_dir: not a writable folder), each under its key. What
// `sealgate config check --files` adds to the parse, run as the daemon's user.
std::vector<ConfigProblem> unreadableFiles(const Config& config);

// <data_dir>/sealgated.lock: a running sealgated holds an exclusive flock() on
// it, so one daemon, and no offline tool beside it, works on a data directory.
std::string dataDirLockPath(const Config& config);
// Whether a process holds that lock now.
bool daemonRunsOn(const Config& config);

}  // namespace sealgate::appliance
