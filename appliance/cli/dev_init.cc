#include "appliance/cli/dev_init.h"

#include <openssl/rand.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "appliance/cli/pki.h"
#include "appliance/config/config.h"
#include "appliance/keys/appliance_keys.h"
#include "appliance/keys/dev_provisioning.h"
#include "appliance/policy/embedded_policy.h"
#include "core/encoding.h"

namespace sealgate::appliance {
namespace fs = std::filesystem;

const std::vector<std::pair<std::string, std::string>>& devClients() {
  static const std::vector<std::pair<std::string, std::string>> clients{
      {"acme-payments", "spiffe://acme/payments"},
      {"globex-billing", "spiffe://globex/billing"},
      {"admin", "spiffe://sealgate-admin/admin/admin"},
      {"auditor", "spiffe://sealgate-admin/auditor/auditor"},
      {"approver-1", "spiffe://sealgate-admin/approver/approver-1"},
      {"approver-2", "spiffe://sealgate-admin/approver/approver-2"},
      {"approver-3", "spiffe://sealgate-admin/approver/approver-3"},
  };
  return clients;
}

namespace {

Error initError(const std::string& what) { return makeError(ErrorCode::DevInit, what); }

Result<Secret> randomPinFile(const std::string& path) {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) return initError("no randomness for a PIN");
  std::string pin = hexLower(raw);
  secureWipe(raw, sizeof raw);
  {
    std::ofstream out(path);
    out << pin << "\n";
    if (!out) return initError("cannot write " + path);
  }
  chmod(path.c_str(), 0600);
  auto secret = Secret::copyFrom(pin);
  secureWipe(pin.data(), pin.size());
  return secret;
}

const char* kConfigTemplate = R"({
  // sealgate development instance, written by `sealgate dev-init`.
  // Every setting not given here takes its embedded default (docs/CONFIG.md).
  // Relative paths are relative to this file.
  "name": "sealgate-dev",
  "pep": {
    "listen": "127.0.0.1:8443",
    "ca_file": "pki/ca.pem",
    "cert_file": "pki/server.pem",
    // The URL clients use: DPoP proofs name it (htu), and Host must name it or
    // another name of the server certificate.
    "public_url": "https://localhost:8443"
  },
  "admin": {
    "listen": "127.0.0.1:9443",
    "ca_file": "pki/ca.pem",
    "cert_file": "pki/server.pem"
  },
  "hsm": {
    "module": "@MODULE@",
    "token_label": "sealgate-dev",
    "pin_file": "hsm.pin",
    "softhsm2_conf": "softhsm2.conf"
  },
  "policy_file": "policy.json",
  "data_dir": ".",
  // The embedded KV v2 store: tenants are Vault namespaces (docs/PROVIDERS.md).
  "kv": { "default_namespace": "acme", "mounts": { "acme": ["kv"], "globex": ["kv"] } },
  // POST /v1/execute: connectors trust the dev CA, so local test peers can use
  // dev-CA certificates; where they may go is the policy's "egress" section.
  "connectors": { "ca_file": "pki/ca.pem" },
@STATE@
  "log": { "level": "info" }
}
)";

// The instance directory: emptied of what dev-init creates (with --force), and
// its sub-directories created, private to the user.
Result<void> prepareDirectory(const fs::path& dir, bool force) {
  std::error_code ec;
  if (fs::exists(dir / "sealgated.conf")) {
    if (!force) return initError((dir / "sealgated.conf").string() + " exists; pass --force to replace the instance");
    // Remove only what dev-init creates: never a user's other files.
    for (const char* p : {"sealgated.conf", "softhsm2.conf", "hsm.pin", "hsm-so.pin", "policy.json", "tokens", "pki",
                          "state", "kv", "audit", "tpm"}) {
      fs::remove_all(dir / p, ec);
    }
  }
  for (const char* sub : {"", "tokens", "pki", "pki/clients", "kv", "audit"}) {
    fs::create_directories(dir / sub, ec);
    if (ec) return initError("cannot create " + (dir / sub).string() + ": " + ec.message());
    chmod((dir / sub).c_str(), 0700);
  }
  return {};
}

Result<void> writeText(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) return initError("cannot write " + path.string());
  return {};
}

// One dev CA for both listeners and for local test peers; the server certificate
// is for the HSM's TLS key (`tlsSpki`), each dev client gets a key and certificate.
Result<void> issueDevPki(const fs::path& pki, const Bytes& tlsSpki) {
  SEALGATE_ASSIGN_OR_RETURN(auto caKey, generateP256Key());
  SEALGATE_ASSIGN_OR_RETURN(auto ca, makeSelfSignedCa(caKey.get(), "sealgate dev CA", 3650));
  SEALGATE_TRY(writePrivateKeyPem((pki / "ca.key").string(), caKey.get()));
  SEALGATE_TRY(writeCertificatePem((pki / "ca.pem").string(), ca.get()));

  SEALGATE_ASSIGN_OR_RETURN(auto tlsPub, publicKeyFromSpki(tlsSpki));
  SEALGATE_ASSIGN_OR_RETURN(auto server, issueCertificate(ca.get(), caKey.get(), tlsPub.get(), "localhost",
                                                          "DNS:localhost,IP:127.0.0.1,IP:::1", true, 825));
  SEALGATE_TRY(writeCertificatePem((pki / "server.pem").string(), server.get()));

  for (const auto& [name, spiffe] : devClients()) {
    SEALGATE_ASSIGN_OR_RETURN(auto key, generateP256Key());
    SEALGATE_ASSIGN_OR_RETURN(auto cert,
                              issueCertificate(ca.get(), caKey.get(), key.get(), name, "URI:" + spiffe, false, 825));
    SEALGATE_TRY(writePrivateKeyPem((pki / "clients" / (name + ".key")).string(), key.get()));
    SEALGATE_TRY(writeCertificatePem((pki / "clients" / (name + ".pem")).string(), cert.get()));
  }
  return {};
}

std::string renderConfig(const std::string& module, bool swtpm, const std::string& tpmDir) {
  std::string config = kConfigTemplate;
  config.replace(config.find("@MODULE@"), 8, module);
  const std::string state = swtpm ? "  \"tpm\": { \"tcti\": \"" + DevSoftwareTpm::tcti(tpmDir) +
                                        "\", \"pcrs\": [7] },\n  \"state\": { \"rollback_protection\": \"tpm\" },"
                                  : "  // No TPM in this instance: said explicitly, and shown in /admin/v1/status.\n"
                                    "  \"state\": { \"rollback_protection\": \"none\" },";
  config.replace(config.find("@STATE@"), 7, state);
  return config;
}

// The sealed state: a data key wrapped by the HSM's KEK (and sealed by the TPM),
// the TPM counter defined, an empty journal.
Result<void> initializeState(const fs::path& conf, bool swtpm, const std::string& tpmDir) {
  std::unique_ptr<DevSoftwareTpm> tpmProcess;
  if (swtpm) {
    std::error_code ec;
    fs::create_directories(tpmDir, ec);
    chmod(tpmDir.c_str(), 0700);
    SEALGATE_ASSIGN_OR_RETURN(auto started, DevSoftwareTpm::start(tpmDir));
    tpmProcess = std::move(started);
  }
  SEALGATE_ASSIGN_OR_RETURN(auto loaded, Config::load(conf.string()));
  SEALGATE_ASSIGN_OR_RETURN(auto keys, ApplianceKeys::open(loaded));
  return keys->stateGuard(loaded)->initialize();
}

}  // namespace

Result<void> devInit(const DevInitOptions& options) {
  if (options.dir.empty()) return initError("--dir is required");
  if (options.tpm != "none" && options.tpm != "swtpm") return initError("--tpm must be none or swtpm");
  const fs::path dir = fs::absolute(options.dir);
  SEALGATE_TRY(prepareDirectory(dir, options.force));

  // SoftHSM2 reads its config at C_Initialize: export it before the module loads.
  const fs::path hsmConf = dir / "softhsm2.conf";
  SEALGATE_TRY(writeText(hsmConf, "directories.tokendir = " + (dir / "tokens").string() +
                                      "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"));
  setenv("SOFTHSM2_CONF", hsmConf.c_str(), 1);

  SEALGATE_ASSIGN_OR_RETURN(auto soPin, randomPinFile((dir / "hsm-so.pin").string()));
  SEALGATE_ASSIGN_OR_RETURN(auto userPin, randomPinFile((dir / "hsm.pin").string()));
  SEALGATE_ASSIGN_OR_RETURN(auto tlsSpki,
                            createDevToken(options.module, kDevTokenLabel, soPin, userPin, (dir / "hsm.pin").string()));
  SEALGATE_TRY(issueDevPki(dir / "pki", tlsSpki));
  SEALGATE_TRY(writeText(dir / "policy.json", devPolicyJson()));
  const bool swtpm = options.tpm == "swtpm";
  const std::string tpmDir = (dir / "tpm").string();
  SEALGATE_TRY(writeText(dir / "sealgated.conf", renderConfig(options.module, swtpm, tpmDir)));
  return initializeState(dir / "sealgated.conf", swtpm, tpmDir);
}

}  // namespace sealgate::appliance
