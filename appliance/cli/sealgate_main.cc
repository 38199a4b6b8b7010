// sealgate: the operator CLI.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "appliance/cli/dev_init.h"
#include "appliance/config/config.h"
#include "appliance/keys/appliance_keys.h"
#include "core/audit_bundle.h"
#include "core/signed_note.h"

#include <unistd.h>
#include <chrono>
#include <fstream>
#include <sstream>

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

// `sealgate audit verify --key AUDIT_KEY.pem BUNDLE`: offline, with the key the
// auditor pinned beforehand (never one from the bundle). Exit 0 verified,
// 1 verification failed, 2 unusable input (key or file).
int auditVerify(const std::string& keyPath, const std::string& bundlePath, const std::string& keyName, bool quiet) {
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
  auto bundle = readFile(bundlePath);
  if (!bundle) {
    std::cerr << "sealgate audit verify: cannot read the bundle " << bundlePath << "\n";
    return 2;
  }
  audit::VerifyOptions options;
  options.spkiDer = std::move(*spki);
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

}  // namespace

// main() without the last line of defence below.
static int run(int argc, char** argv) {
  CLI::App cli{"sealgate: operate a sealgate appliance"};
  cli.require_subcommand(1);

  DevInitOptions init;
  auto* devInitCmd = cli.add_subcommand(
      "dev-init", "create a development instance: config, SoftHSM2 token with every key, dev CA and certificates");
  devInitCmd->add_option("--dir", init.dir, "directory for the instance")->required();
  devInitCmd->add_option("--module", init.module, "PKCS#11 module (default SoftHSM2)");
  devInitCmd->add_flag("--force", init.force, "replace an existing instance in DIR");
  devInitCmd->add_option("--tpm", init.tpm, "none (rollback protection off) or swtpm (a software TPM in DIR/tpm)")
      ->check(CLI::IsMember({"none", "swtpm"}));

  auto* keysCmd = cli.add_subcommand("keys", "inspect the HSM's keys");
  keysCmd->require_subcommand(1);
  std::string configPath;
  bool asJson = false;
  auto* listCmd = keysCmd->add_subcommand("list", "show labels, types, fingerprints and attributes (never values)");
  listCmd->add_option("--config", configPath, "path to sealgated.conf")->required();
  listCmd->add_flag("--json", asJson, "machine-readable output");

  auto* stateCmd = cli.add_subcommand("state", "the sealed state store");
  stateCmd->require_subcommand(1);
  std::string stateConfig;
  auto* stateInitCmd = stateCmd->add_subcommand(
      "init", "first set-up of the sealed state (refuses existing state; re-initialising is an audited admin call)");
  stateInitCmd->add_option("--config", stateConfig, "path to sealgated.conf")->required();
  auto* auditCmd = cli.add_subcommand("audit", "work with exported audit bundles");
  auditCmd->require_subcommand(1);
  std::string keyPath, bundlePath, keyName;
  bool quiet = false;
  auto* verifyCmd =
      auditCmd->add_subcommand("verify", "verify an export bundle offline: signatures, the Merkle tree and the proofs");
  verifyCmd->add_option("--key", keyPath, "the audit public key (PEM) you pinned beforehand")->required();
  verifyCmd->add_option("--key-name", keyName, "the key name in the signed note (default: the bundle's origin)");
  verifyCmd->add_flag("--quiet", quiet, "no progress bar");
  verifyCmd->add_option("BUNDLE", bundlePath, "the bundle from GET /admin/v1/audit/export")->required();

  CLI11_PARSE(cli, argc, argv);

  if (devInitCmd->parsed()) {
    auto r = devInit(init);
    if (!r) {
      std::cerr << "sealgate dev-init: " << r.error().describe() << "\n";
      return 1;
    }
    std::cout << "development instance ready in " << init.dir << "\n"
              << "  run: sealgated --config " << init.dir << "/sealgated.conf\n";
    return 0;
  }
  if (listCmd->parsed()) return keysList(configPath, asJson);
  if (stateInitCmd->parsed()) return stateInit(stateConfig);
  if (verifyCmd->parsed()) return auditVerify(keyPath, bundlePath, keyName, quiet);
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
