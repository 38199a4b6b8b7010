#include "appliance/cli/dev_init.h"

#include <openssl/rand.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>

#include "appliance/breakglass/approvers.h"
#include "appliance/cli/approver_enrolment.h"
#include "appliance/cli/pki.h"
#include "appliance/config/config.h"
#include "appliance/keys/appliance_keys.h"
#include "appliance/keys/approver_attestation.h"
#include "appliance/keys/approver_tpm.h"
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
@BREAKGLASS@
  "log": { "level": "info" }
}
)";

const std::vector<std::string> kDevApproverNames = {"approver-1", "approver-2", "approver-3"};
constexpr std::size_t kDevQuorum = 2;
// Who ran the initial ceremony: the approvers' created_by.
constexpr const char* kCeremonyBy = "sealgate-dev-init";

// A software TPM of DIR/approvers/ that still runs (its pid file names a live
// swtpm): replacing its state under it would leave an orphan serving a deleted TPM.
std::optional<std::string> runningApproverTpm(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir / "approvers", ec)) {
    std::ifstream pidFile(entry.path() / "swtpm.pid");
    long pid = 0;
    if (!(pidFile >> pid) || pid <= 0) continue;
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 && std::getline(comm, name) && name == "swtpm") {
      return entry.path().filename().string();
    }
  }
  return std::nullopt;
}

// The instance directory: emptied of what dev-init creates (with --force), and
// its sub-directories created, private to the user.
Result<void> prepareDirectory(const fs::path& dir, bool force) {
  std::error_code ec;
  if (fs::exists(dir / "sealgated.conf")) {
    if (!force) return initError((dir / "sealgated.conf").string() + " exists; pass --force to replace the instance");
    if (auto running = runningApproverTpm(dir)) {
      return initError("the software TPM of approver " + *running + " still runs on " +
                       (dir / "approvers" / *running).string() + ": stop it first (kill $(cat " +
                       (dir / "approvers" / *running / "swtpm.pid").string() + "))");
    }
    // Remove only what dev-init creates: never a user's other files.
    for (const char* p : {"sealgated.conf", "softhsm2.conf", "hsm.pin", "hsm-so.pin", "policy.json", "tokens", "pki",
                          "state", "kv", "audit", "tpm", "approvers"}) {
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
    if (spiffe.starts_with("spiffe://sealgate-admin/")) {
      // For a browser: the admin web UI (docs/WEBUI.md, "Opening it").
      SEALGATE_TRY(writePkcs12((pki / "clients" / (name + ".p12")).string(), name, key.get(), cert.get(), ca.get()));
    }
  }
  return {};
}

std::string renderConfig(const std::string& module, bool swtpm, const std::string& tpmDir,
                         const std::string& ekCaBundle) {
  std::string config = kConfigTemplate;
  config.replace(config.find("@MODULE@"), 8, module);
  const std::string state = swtpm ? "  \"tpm\": { \"tcti\": \"" + DevSoftwareTpm::tcti(tpmDir) +
                                        "\", \"pcrs\": [7] },\n  \"state\": { \"rollback_protection\": \"tpm\" },"
                                  : "  // No TPM in this instance: said explicitly, and shown in /admin/v1/status.\n"
                                    "  \"state\": { \"rollback_protection\": \"none\" },";
  config.replace(config.find("@STATE@"), 7, state);
  const std::string breakglass =
      swtpm ? "  // Break-glass (docs/BREAKGLASS.md): approver-1..3 are enrolled with the software TPMs\n"
              "  // in approvers/, whose EK certificates chain to this development TPM vendor CA.\n"
              "  \"breakglass\": { \"ek_ca_file\": \"" +
                  ekCaBundle + "\", \"quorum\": " + std::to_string(kDevQuorum) + " },"
            : "  // No break-glass: its approvers need TPMs (dev-init --tpm swtpm makes three).";
  config.replace(config.find("@BREAKGLASS@"), 12, breakglass);
  return config;
}

// The initial ceremony's steps 2 and 4 in process: breakglass::Approvers over
// the instance's sealed state, with the same checks as the admin endpoints
// (the EK chain to the configured CA bundle, the AK, MakeCredential, the
// activated secret, the quote).
class CeremonyPeer : public EnrolmentPeer {
 public:
  explicit CeremonyPeer(breakglass::Approvers& approvers) : approvers_(approvers) {}

  Result<Credential> submitDevice(const std::string& name, const ApproverTpm::Device& device) override {
    SEALGATE_ASSIGN_OR_RETURN(auto issued, approvers_.submitDevice(name, device.ekCertificate, device.ekPublic,
                                                                   device.akPublic, std::time(nullptr)));
    return Credential{std::move(issued.credentialBlob), std::move(issued.encryptedSecret)};
  }

  Result<std::string> activate(const std::string& name, const Secret& secret,
                               const ApproverTpm::Quote& quote) override {
    SEALGATE_ASSIGN_OR_RETURN(auto enrolled,
                              approvers_.activate(name, secret, quote.attest, quote.signature, std::time(nullptr)));
    return enrolled.akFingerprint;
  }

 private:
  breakglass::Approvers& approvers_;
};

// dev-init's initial ceremony (docs/BREAKGLASS.md, "Initial ceremony"): on the
// fresh sealed state, each approver's TPM is started, its enrolment opened and
// completed in process. The bootstrap limit is the ceremony's approvers, not
// the quorum: it runs offline, before the appliance ever served, by whoever
// holds the instance's HSM PIN and TPM, and only on a state without approvers.
// Not in the audit log: a development instance's log starts at its first run,
// as its checkpoints carry the config's `name`, which tests and users change.
Result<void> enrolInitialApprovers(const Config& config, ApplianceKeys& keys, std::vector<DevApprover>& approvers) {
  auto state = keys.stateGuard(config);
  SEALGATE_TRY(state->open());
  ApproverAttestation attestation(config.breakglass.ekCaFile);
  breakglass::Settings ceremony = config.breakglass;
  ceremony.quorum = std::max(ceremony.quorum, approvers.size());
  breakglass::Approvers registry(*state, attestation, ceremony);
  SEALGATE_TRY(registry.load());
  if (!registry.list().empty()) return initError("the initial ceremony runs on a state without approvers");
  CeremonyPeer peer(registry);
  for (auto& approver : approvers) {
    SEALGATE_ASSIGN_OR_RETURN(auto tpmProcess, DevSoftwareTpm::start(approver.stateDir));
    SEALGATE_ASSIGN_OR_RETURN(auto tpm, ApproverTpm::open(approver.tcti));
    SEALGATE_ASSIGN_OR_RETURN(auto pending, registry.createPending(approver.name, kCeremonyBy, {}, std::time(nullptr)));
    SEALGATE_ASSIGN_OR_RETURN(auto enrolled,
                              enrolApproverDevice(*tpm, peer, approver.name, pending.pcrs, kDefaultApproverAkHandle));
    approver.akFingerprint = std::move(enrolled.akFingerprint);
  }
  return Ok{};
}

// The sealed state: a data key wrapped by the HSM's KEK (and sealed by the TPM),
// the TPM counter defined, an empty journal; then, with approvers, the initial
// ceremony on it (the appliance's TPM runs throughout: it anchors the state).
Result<void> initializeState(const fs::path& conf, bool swtpm, const std::string& tpmDir,
                             std::vector<DevApprover>& approvers) {
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
  SEALGATE_TRY(keys->stateGuard(loaded)->initialize());
  if (approvers.empty()) return Ok{};
  return enrolInitialApprovers(loaded, *keys, approvers);
}

}  // namespace

Result<DevInitReport> devInit(const DevInitOptions& options) {
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
  DevInitReport report;
  report.dir = dir.string();
  report.config = (dir / "sealgated.conf").string();
  if (swtpm) {
    std::vector<std::string> stateDirs;
    for (const auto& name : kDevApproverNames) {
      const std::string stateDir = (dir / "approvers" / name).string();
      stateDirs.push_back(stateDir);
      report.approvers.push_back(
          DevApprover{name, stateDir, DevSoftwareTpm::tcti(stateDir), DevSoftwareTpm::startCommand(stateDir), ""});
    }
    std::error_code ec;
    fs::create_directories(dir / "approvers", ec);
    chmod((dir / "approvers").c_str(), 0700);
    SEALGATE_ASSIGN_OR_RETURN(report.ekCaBundle, manufactureDevTpms((dir / "approvers" / "ca").string(), stateDirs));
  }
  SEALGATE_TRY(writeText(report.config, renderConfig(options.module, swtpm, tpmDir, "approvers/ca/bundle.pem")));
  SEALGATE_TRY(initializeState(report.config, swtpm, tpmDir, report.approvers));
  return report;
}

}  // namespace sealgate::appliance
