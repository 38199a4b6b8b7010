#include "appliance/cli/key_ceremony_cli.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>

#include "appliance/audit/audit_event.h"
#include "appliance/audit/audit_log.h"
#include "appliance/config/config.h"
#include "appliance/keys/appliance_keys.h"
#include "appliance/keys/tls_request.h"

namespace sealgate::appliance {

namespace {

using nlohmann::json;

// Whether data sealed under a KEK is already there: the sealed state's data
// key or journal, or anything in the KV store.
bool sealedDataExists(const Config& config) {
  std::error_code ec;
  namespace fs = std::filesystem;
  if (fs::exists(config.state.dir + "/datakey.sealed", ec) || fs::exists(config.state.dir + "/journal", ec)) {
    return true;
  }
  return fs::is_directory(config.kv.dir, ec) && !fs::is_empty(config.kv.dir, ec);
}

// Who ran it, as the audit entry names them: the login behind sudo/runuser when there is one.
std::string operatorName() {
  for (const char* var : {"SUDO_USER", "USER", "LOGNAME"}) {
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') return v;
  }
  return "uid-" + std::to_string(::getuid());
}

}  // namespace

int keyCeremonyCommand(const CeremonyCommand& c, std::ostream& out, std::ostream& err) {
  auto config = Config::load(c.configPath);
  if (!config) {
    err << "sealgate keys ceremony: " << config.error().describe() << "\n";
    return 2;
  }
  if (!config->hsm.softhsm2Conf.empty()) setenv("SOFTHSM2_CONF", config->hsm.softhsm2Conf.c_str(), 1);
  const std::string auditDir = (config->dataDir.empty() ? std::string(".") : config->dataDir) + "/audit";
  if (daemonRunsOn(*config)) {
    err << "sealgate keys ceremony: sealgated is running on this data directory: stop it first (nothing done)\n";
    return 1;
  }
  auto keys = ApplianceKeys::open(*config, /*maxSessions=*/2);
  if (!keys) {
    err << "sealgate keys ceremony: " << keys.error().describe() << "\n";
    return 1;
  }
  auto provisioned = (*keys)->provisionKeys(sealedDataExists(*config));
  if (!provisioned) {
    err << "sealgate keys ceremony: " << provisioned.error().describe() << "\n";
    return 1;
  }
  std::string request;
  if (!c.csrOut.empty()) {
    auto key = (*keys)->tlsKey();
    auto pem =
        key ? tlsCertificateRequest(c.tlsCommonName, c.tlsSubjectAltNames, *key) : Result<std::string>(key.error());
    if (!pem) {
      err << "sealgate keys ceremony: the TLS key's certificate request: " << pem.error().describe() << "\n";
      return 1;
    }
    std::ofstream file(c.csrOut, std::ios::binary | std::ios::trunc);
    if (!(file << *pem) || !file.flush()) {
      err << "sealgate keys ceremony: cannot write " << c.csrOut << "\n";
      return 1;
    }
    request = c.csrOut;
  }

  // The audit log's first entries: what the ceremony found and made. Refused
  // while a daemon holds the log (one writer).
  if (!provisioned->created.empty()) {
    auto signer = (*keys)->checkpointSigner();
    AuditLogOptions options;
    options.dir = auditDir;
    options.origin = config->name;
    auto log = signer ? MerkleAuditLog::open(options, std::move(*signer))
                      : Result<std::unique_ptr<MerkleAuditLog>>(signer.error());
    const json event = {{"type", "key_ceremony"},
                        {"created", provisioned->created},
                        {"present", provisioned->present},
                        {"token", config->hsm.tokenLabel}};
    if (!log || !appendAuditEvent(**log, Actor{"", "local:" + operatorName(), "", "", "operator"}, event)) {
      err << "sealgate keys ceremony: the keys were created but the audit log could not record it"
          << (log ? "" : ": " + log.error().describe()) << "\n";
      return 1;
    }
  }

  if (c.asJson) {
    json j = {{"created", provisioned->created}, {"present", provisioned->present}};
    if (!request.empty()) j["certificate_request"] = request;
    out << j.dump(2) << "\n";
    return 0;
  }
  for (const auto& label : provisioned->created) out << "created  " << label << "\n";
  for (const auto& label : provisioned->present) out << "present  " << label << " (kept)\n";
  if (!request.empty()) out << "the TLS key's certificate request: " << request << "\n";
  out << (provisioned->created.empty() ? "nothing to do: the token holds every key\n"
                                       : "key ceremony done; next: sealgate keys list, the TLS certificate, "
                                         "sealgate state init (docs/RUNBOOK.md, \"Initial key ceremony\")\n");
  return 0;
}

}  // namespace sealgate::appliance
