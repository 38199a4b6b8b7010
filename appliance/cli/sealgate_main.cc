// sealgate: the operator CLI.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "appliance/cli/approver_cli.h"
#include "appliance/cli/config_check.h"
#include "appliance/cli/dev_init.h"
#include "appliance/cli/key_ceremony_cli.h"
#include "appliance/cli/keys_cli.h"
#include "appliance/cli/status_cli.h"
#include "appliance/config/config.h"
#include "appliance/keys/appliance_keys.h"
#include "core/audit_bundle.h"
#include "core/signed_note.h"

#include <unistd.h>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace sealgate;
using namespace sealgate::appliance;

namespace {

// An instance's config and its key store, opened for a CLI command; on failure
// the error is printed and `exitCode` says what to return.
struct Instance {
  Config config;
  std::unique_ptr<ApplianceKeys> keys;
  int exitCode = 0;
};

Instance openInstance(const std::string& configPath) {
  Instance i;
  auto config = Config::load(configPath);
  if (!config) {
    std::cerr << "sealgate: " << config.error().describe() << "\n";
    i.exitCode = 2;
    return i;
  }
  i.config = std::move(*config);
  if (!i.config.hsm.softhsm2Conf.empty()) setenv("SOFTHSM2_CONF", i.config.hsm.softhsm2Conf.c_str(), 1);
  auto keys = ApplianceKeys::open(i.config, /*maxSessions=*/2);
  if (!keys) {
    std::cerr << "sealgate: " << keys.error().describe() << "\n";
    i.exitCode = 1;
    return i;
  }
  i.keys = std::move(*keys);
  return i;
}

int keysList(const std::string& configPath, bool asJson) {
  auto instance = openInstance(configPath);
  if (instance.exitCode) return instance.exitCode;
  auto keys = instance.keys->listKeys();
  if (!keys) {
    std::cerr << "sealgate: " << keys.error().describe() << "\n";
    return 1;
  }
  if (asJson) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& k : *keys) {
      out.push_back({{"label", k.label},
                     {"type", k.type},
                     {"bits", k.bits},
                     {"fingerprint", k.fingerprint},
                     {"attributes", k.attributes}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << std::left << std::setw(28) << "LABEL" << std::setw(13) << "TYPE" << std::setw(74) << "FINGERPRINT"
            << "ATTRIBUTES\n";
  for (const auto& k : *keys) {
    std::string attrs;
    for (const char* a : {"SENSITIVE", "EXTRACTABLE", "SIGN", "VERIFY", "ENCRYPT", "DECRYPT", "MODIFIABLE"}) {
      auto it = k.attributes.find(a);
      if (it == k.attributes.end()) continue;
      attrs += (attrs.empty() ? "" : " ") + std::string(it->second ? "+" : "-") + a;
    }
    std::cout << std::setw(28) << k.label << std::setw(13) << k.type << std::setw(74) << k.fingerprint << attrs << "\n";
  }
  return 0;
}

int stateInit(const std::string& configPath) {
  auto instance = openInstance(configPath);
  if (instance.exitCode) return instance.exitCode;
  if (daemonRunsOn(instance.config)) {
    std::cerr << "sealgate state init: sealgated is running on this data directory: stop it first (nothing done)\n";
    return 1;
  }
  if (auto r = instance.keys->stateGuard(instance.config)->initialize(); !r) {
    std::cerr << "sealgate state init: " << r.error().describe() << "\n";
    return 1;
  }
  std::cout << "sealed state initialised in " << instance.config.state.dir << " (rollback protection: "
            << (instance.config.state.rollbackProtection == RollbackProtection::Tpm ? "TPM NV counter" : "off")
            << ")\n";
  return 0;
}

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `sealgate audit verify --key AUDIT_KEY.pem [--key OLDER.pem ...] BUNDLE`:
// offline, with the keys the auditor pinned beforehand (never one from the
// bundle; several across a key rotation). Exit 0 verified, 1 verification
// failed, 2 unusable input (key or file).
int auditVerify(const std::vector<std::string>& keyPaths, const std::string& bundlePath, const std::string& keyName,
                bool quiet) {
  audit::VerifyOptions options;
  for (const auto& keyPath : keyPaths) {
    auto pem = readFile(keyPath);
    if (!pem) {
      std::cerr << "sealgate audit verify: cannot read the key file " << keyPath << "\n";
      return 2;
    }
    auto spki = note::p256SpkiFromPem(*pem);
    if (!spki) {
      std::cerr << "sealgate audit verify: " << keyPath << ": " << spki.error().message << "\n";
      return 2;
    }
    if (options.spkiDer.empty()) {
      options.spkiDer = std::move(*spki);
    } else {
      options.moreKeys.push_back(std::move(*spki));
    }
  }
  auto bundle = readFile(bundlePath);
  if (!bundle) {
    std::cerr << "sealgate audit verify: cannot read the bundle " << bundlePath << "\n";
    return 2;
  }
  options.keyName = keyName;
  const bool tty = !quiet && isatty(STDERR_FILENO);
  int lastPercent = -1;
  if (!quiet) {
    options.progress = [&](std::uint64_t done, std::uint64_t total) {
      const int percent = total == 0 ? 100 : static_cast<int>(done * 100 / total);
      if (percent == lastPercent) return;
      lastPercent = percent;
      const int width = 40, filled = percent * width / 100;
      if (tty) {
        std::cerr << "\rverifying [" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << percent
                  << "%" << std::flush;
      } else if (percent % 25 == 0) {
        std::cerr << "verifying: " << percent << "%\n";
      }
    };
  }
  const auto started = std::chrono::steady_clock::now();
  auto report = audit::verifyBundle(*bundle, options);
  if (tty) std::cerr << "\n";
  if (!report) {
    const Error& e = report.error();
    std::cout << "FAILED: " << e.code << ": " << e.message << "\n";
    if (e.operation == "entry") std::cout << "first bad entry: " << e.native << "\n";
    return 1;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "OK: " << report->treeSize << " entries, root " << base64Std(report->root) << ", " << report->checkpoints
            << " signed checkpoint(s) and " << report->proofs << " proof(s) verified in " << std::fixed
            << std::setprecision(2) << seconds << " s\n";
  return 0;
}

// What dev-init made, and how to use it.
void printDevInit(const DevInitOptions& init, const DevInitReport& r) {
  const std::string& dir = r.dir;
  std::cout << "development instance ready in " << dir << "\n";
  if (init.tpm == "swtpm") {
    std::cout << "  start its TPM first (docs/STATE.md, \"Software TPM for development\"):\n"
              << "    swtpm socket --tpm2 --server type=unixio,path=" << dir << "/tpm/swtpm.sock --ctrl "
              << "type=unixio,path=" << dir << "/tpm/swtpm.sock.ctrl --tpmstate dir=" << dir
              << "/tpm --flags startup-clear &\n";
  }
  std::cout << "  run: sealgated --config " << r.config << "\n";
  if (r.approvers.size() < 2) return;
  std::cout << "\nbreak-glass: " << r.approvers.size() << " approvers enrolled (initial ceremony), quorum 2, EK CA "
            << r.ekCaBundle << "\n";
  for (const auto& a : r.approvers) {
    std::cout << "  " << a.name << ": AK " << a.akFingerprint << "\n"
              << "    start its TPM: " << a.startCommand << "\n"
              << "    stop it:       kill $(cat " << a.stateDir << "/swtpm.pid)\n";
  }
  const std::string pki = dir + "/pki/clients/";
  const std::string admin = "--admin https://localhost:9443 --ca " + dir + "/pki/ca.pem";
  std::cout << "  try it (with sealgated and approver-1's and approver-2's TPMs running):\n"
            << "    curl --cacert " << dir << "/pki/ca.pem --cert " << pki << "admin.pem --key " << pki
            << "admin.key -H 'Content-Type: application/json' https://localhost:9443/admin/v1/breakglass/requests "
            << "-d '{\"tenant\":\"acme\",\"uri_prefixes\":[\"secret://acme/kv/app\"],\"actions\":[\"use\"],"
            << "\"mode\":\"pdp_outage\",\"reason\":\"PDP outage drill\",\"duration_seconds\":900}'\n";
  for (const auto* a : {&r.approvers[0], &r.approvers[1]}) {
    std::cout << "    sealgate approve " << admin << " --cert " << pki << a->name << ".pem --key " << pki << a->name
              << ".key --tpm " << a->tcti << " REQUEST_ID\n";
  }
}

// The break-glass approver's commands (docs/BREAKGLASS.md, "The approver CLI").
struct ApproverCommands {
  CLI::App* add = nullptr;
  CLI::App* list = nullptr;
  CLI::App* enroll = nullptr;
  CLI::App* approve = nullptr;
  AdminTls addTls, listTls;
  std::string addName;
  std::vector<unsigned> addPcrs;
  EnrollCommand enrollCommand{{}, {}, {}, "0x81010100"};
  ApproveCommand approveCommand{{}, {}, "0x81010100", {}, false};
};

void addAdminTlsOptions(CLI::App* cmd, AdminTls& tls) {
  cmd->add_option("--admin", tls.url, "the admin listener, https://host:port")->required();
  cmd->add_option("--cert", tls.certFile, "your client certificate (PEM)")->required();
  cmd->add_option("--key", tls.keyFile, "its private key (PEM)")->required();
  cmd->add_option("--ca", tls.caFile, "the CA the admin listener's certificate must chain to (PEM)")->required();
}

void addApproverCommands(CLI::App& cli, ApproverCommands& c) {
  auto* approver = cli.add_subcommand("approver", "break-glass approvers: open an enrolment, enrol a TPM, list");
  approver->require_subcommand(1);
  c.add = approver->add_subcommand("add", "(admin) open the enrolment of approver NAME: the approver then enrols");
  addAdminTlsOptions(c.add, c.addTls);
  c.add->add_option("NAME", c.addName, "the <name> of spiffe://sealgate-admin/approver/<name>")->required();
  c.add
      ->add_option("--pcrs", c.addPcrs, "SHA-256 PCRs the approver's quotes cover, e.g. 0,7 (default: breakglass.pcrs)")
      ->delimiter(',')
      ->check(CLI::Range(0u, 23u));
  c.list = approver->add_subcommand("list", "the approvers, their state and AK fingerprints");
  addAdminTlsOptions(c.list, c.listTls);
  c.enroll = approver->add_subcommand(
      "enroll", "(approver) enrol your TPM: create or reuse its AK, prove it with ActivateCredential and a quote");
  addAdminTlsOptions(c.enroll, c.enrollCommand.tls);
  c.enroll->add_option("--tpm", c.enrollCommand.tcti, "your TPM's TCTI, e.g. device:/dev/tpmrm0")->required();
  c.enroll->add_option("--name", c.enrollCommand.name, "the approver name (default: the one in --cert)");
  c.enroll->add_option("--ak-handle", c.enrollCommand.akHandle, "the AK's persistent handle (default 0x81010100)");

  c.approve = cli.add_subcommand(
      "approve", "(approver) review a break-glass request, then approve it with a quote by your enrolled TPM");
  addAdminTlsOptions(c.approve, c.approveCommand.tls);
  c.approve->add_option("--tpm", c.approveCommand.tcti, "your enrolled TPM's TCTI")->required();
  c.approve->add_option("--ak-handle", c.approveCommand.akHandle, "the AK's persistent handle (default 0x81010100)");
  c.approve->add_flag("--yes", c.approveCommand.yes, "approve without asking (review the request first)");
  c.approve->add_option("REQUEST_ID", c.approveCommand.requestId, "the request's id (32 hex digits)")->required();
}

// The exit status of the approver command that was parsed; -1 when none was.
int runApproverCommands(const ApproverCommands& c) {
  if (c.add->parsed()) return approverAdd(c.addTls, c.addName, c.addPcrs, std::cout, std::cerr);
  if (c.list->parsed()) return approverList(c.listTls, std::cout, std::cerr);
  if (c.enroll->parsed()) return approverEnroll(c.enrollCommand, std::cout, std::cerr);
  if (c.approve->parsed()) {
    return approveRequest(c.approveCommand, std::cin, isatty(STDIN_FILENO) == 1, std::cout, std::cerr);
  }
  return -1;
}

// `sealgate keys ...`: list and ceremony on the token itself, rotation through the admin listener.
struct KeysCommands {
  CLI::App* list = nullptr;
  CLI::App* ceremony = nullptr;
  CLI::App* versions = nullptr;
  CLI::App* rotate = nullptr;
  CLI::App* retire = nullptr;
  CLI::App* correlate = nullptr;
  std::string listConfig;
  bool listJson = false;
  CeremonyCommand ceremonyCommand;
  KeysCommand rotation;
};

void addKeysCommands(CLI::App& cli, KeysCommands& k) {
  auto* keysCmd = cli.add_subcommand("keys", "the HSM's keys: list them, the initial ceremony, rotate and retire");
  keysCmd->require_subcommand(1);
  k.list = keysCmd->add_subcommand("list", "show labels, types, fingerprints and attributes (never values)");
  k.list->add_option("--config", k.listConfig, "path to sealgated.conf")->required();
  k.list->add_flag("--json", k.listJson, "machine-readable output");
  CeremonyCommand& c = k.ceremonyCommand;
  k.ceremony = keysCmd->add_subcommand(
      "ceremony", "initial key ceremony: create every key the config's token lacks (never replacing one); audited");
  k.ceremony->add_option("--config", c.configPath, "path to sealgated.conf")->required();
  k.ceremony->add_option("--tls-csr-out", c.csrOut, "write the TLS key's certificate request (PEM) here");
  k.ceremony->add_option("--tls-cn", c.tlsCommonName, "its subject common name, e.g. sealgate.example");
  k.ceremony->add_option("--tls-san", c.tlsSubjectAltNames,
                         "its subject alternative names, e.g. DNS:sealgate.example,IP:192.0.2.7");
  k.ceremony->add_flag("--json", c.asJson, "machine-readable output");
  // Key rotation, through the running appliance's admin listener.
  KeysCommand& r = k.rotation;
  k.versions = keysCmd->add_subcommand(
      "versions", "every version of the ref-hmac, grant, audit and TLS keys: active, verifying or retired, and when");
  k.rotate = keysCmd->add_subcommand("rotate",
                                     "(admin) create the next version of a key in the HSM and make it active "
                                     "(tls: once its certificate is installed)");
  k.rotate->add_option("--kind", r.kind, "ref-hmac, grant, audit or tls")
      ->required()
      ->check(CLI::IsMember({"ref-hmac", "grant", "audit", "tls"}));
  k.rotate->add_option("--csr-out", r.csrOut,
                       "tls: write the new key's certificate request (PEM) here (default: print it)");
  k.retire = keysCmd->add_subcommand(
      "retire", "(admin) stop using an earlier version for good (kept in the HSM); refused while grants need it");
  k.retire->add_option("LABEL", r.label, "the version's label, e.g. sealgate-grant-es256-v1")->required();
  for (auto* cmd : {k.rotate, k.retire}) cmd->add_option("--reason", r.reason, "why (recorded in the audit event)");
  k.correlate = keysCmd->add_subcommand(
      "correlate", "(admin, auditor) the resource_ref of a secret URI under every key version (audited)");
  k.correlate->add_option("URI", r.uri, "a secret URI, secret://tenant/mount/path[#field]")->required();
  for (auto* cmd : {k.versions, k.rotate, k.retire, k.correlate}) {
    addAdminTlsOptions(cmd, r.tls);
    cmd->add_flag("--json", r.asJson, "machine-readable output");
  }
}

// The exit status of the keys command that was given, or -1 when none was.
int runKeysCommands(const KeysCommands& k) {
  if (k.list->parsed()) return keysList(k.listConfig, k.listJson);
  if (k.ceremony->parsed()) {
    if (!k.ceremonyCommand.csrOut.empty() && k.ceremonyCommand.tlsCommonName.empty()) {
      std::cerr << "sealgate keys ceremony: --tls-csr-out needs --tls-cn\n";
      return 2;
    }
    return keyCeremonyCommand(k.ceremonyCommand, std::cout, std::cerr);
  }
  if (k.versions->parsed()) return keysVersionsCommand(k.rotation, std::cout, std::cerr);
  if (k.rotate->parsed()) return keysRotateCommand(k.rotation, std::cout, std::cerr);
  if (k.retire->parsed()) return keysRetireCommand(k.rotation, std::cout, std::cerr);
  if (k.correlate->parsed()) return keysCorrelateCommand(k.rotation, std::cout, std::cerr);
  return -1;
}

}  // namespace

// main() without the last line of defence below.
static int run(int argc, char** argv) {
  CLI::App cli{"sealgate: operate a sealgate appliance"};
  cli.require_subcommand(1);
  cli.set_version_flag("--version", std::string("sealgate ") + SEALGATE_VERSION);

  DevInitOptions init;
  auto* devInitCmd = cli.add_subcommand(
      "dev-init", "create a development instance: config, SoftHSM2 token with every key, dev CA and certificates");
  devInitCmd->add_option("--dir", init.dir, "directory for the instance")->required();
  devInitCmd->add_option("--module", init.module, "PKCS#11 module (default SoftHSM2)");
  devInitCmd->add_flag("--force", init.force, "replace an existing instance in DIR");
  devInitCmd->add_option("--tpm", init.tpm, "none (rollback protection off) or swtpm (a software TPM in DIR/tpm)")
      ->check(CLI::IsMember({"none", "swtpm"}));

  KeysCommands keys;
  addKeysCommands(cli, keys);

  auto* stateCmd = cli.add_subcommand("state", "the sealed state store");
  stateCmd->require_subcommand(1);
  std::string stateConfig;
  auto* stateInitCmd = stateCmd->add_subcommand(
      "init", "first set-up of the sealed state (refuses existing state; re-initialising is an audited admin call)");
  stateInitCmd->add_option("--config", stateConfig, "path to sealgated.conf")->required();
  auto* auditCmd = cli.add_subcommand("audit", "work with exported audit bundles");
  auditCmd->require_subcommand(1);
  std::vector<std::string> keyPaths;
  std::string bundlePath, keyName;
  bool quiet = false;
  auto* verifyCmd =
      auditCmd->add_subcommand("verify", "verify an export bundle offline: signatures, the Merkle tree and the proofs");
  verifyCmd
      ->add_option("--key", keyPaths,
                   "the audit public key (PEM) you pinned beforehand; repeat it for each key version the log spans")
      ->allow_extra_args(false)  // one file per --key: the bundle stays positional
      ->required();
  verifyCmd->add_option("--key-name", keyName, "the key name in the signed note (default: the bundle's origin)");
  verifyCmd->add_flag("--quiet", quiet, "no progress bar");
  verifyCmd->add_option("BUNDLE", bundlePath, "the bundle from GET /admin/v1/audit/export")->required();

  ApproverCommands approvers;
  addApproverCommands(cli, approvers);

  AdminTls statusTls;
  bool statusJson = false;
  auto* statusCmd = cli.add_subcommand(
      "status", "the appliance's health as GET /admin/v1/status and /readyz say it; exit 0 ready, 1 not ready");
  addAdminTlsOptions(statusCmd, statusTls);
  statusCmd->add_flag("--json", statusJson, "machine-readable output");

  auto* configCmd = cli.add_subcommand("config", "the daemon's configuration file");
  configCmd->require_subcommand(1);
  std::string checkPath = kDefaultConfigPath;
  bool checkFiles = false, checkJson = false;
  auto* checkCmd = configCmd->add_subcommand(
      "check", "parse and validate it as sealgated does at start; print every problem with its key; exit 0 valid");
  checkCmd->add_option("--config", checkPath, "path to sealgated.conf")->capture_default_str();
  checkCmd->add_flag("--files", checkFiles, "also check that every file it names exists and this user can read it");
  checkCmd->add_flag("--json", checkJson, "machine-readable output");

  CLI11_PARSE(cli, argc, argv);

  if (checkCmd->parsed()) return configCheckCommand(checkPath, checkFiles, checkJson, std::cout, std::cerr);
  if (devInitCmd->parsed()) {
    auto r = devInit(init);
    if (!r) {
      std::cerr << "sealgate dev-init: " << r.error().describe() << "\n";
      return 1;
    }
    printDevInit(init, *r);
    return 0;
  }
  if (const int status = runApproverCommands(approvers); status >= 0) return status;
  if (statusCmd->parsed()) return statusCommand(statusTls, statusJson, std::cout, std::cerr);
  if (const int status = runKeysCommands(keys); status >= 0) return status;
  if (stateInitCmd->parsed()) return stateInit(stateConfig);
  if (verifyCmd->parsed()) return auditVerify(keyPaths, bundlePath, keyName, quiet);
  return 2;
}

int main(int argc, char** argv) {
  // An exception that escapes run() is a bug; it ends the process with a message
  // and a distinct exit status instead of std::terminate's abort.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "sealgate: unexpected error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "sealgate: unexpected error\n";
  }
  return 70;  // EX_SOFTWARE
}
