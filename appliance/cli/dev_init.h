// `sealgate dev-init --dir DIR`: a complete development instance (docs/DEVELOPMENT.md,
// "Development instance"): config, SoftHSM2 token with every key of docs/DESIGN.md, dev CA, server and
// client certificates, and data folders. With a software TPM, also three break-glass approvers with
// their own software TPMs, enrolled at dev-init time (docs/BREAKGLASS.md, "Initial ceremony").
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

namespace sealgate::appliance {

struct DevInitOptions {
  std::string dir;
  std::string module = "/usr/lib/softhsm/libsofthsm2.so";
  bool force = false;  // replace an existing instance in DIR
  // "none": no TPM (the config says rollback_protection "none"), no break-glass;
  // "swtpm": a software TPM whose state lives in DIR/tpm (start it with
  // `swtpm socket --tpm2 --tpmstate dir=DIR/tpm ...`, see docs/STATE.md), and
  // the approvers' TPMs under DIR/approvers/ with the `breakglass` section.
  std::string tpm = "none";
};

// A break-glass approver of a dev instance: a software TPM with an EK
// certificate from the dev TPM vendor CA, enrolled for approver/<name>.
struct DevApprover {
  std::string name;           // approver-1..3: DIR/pki/clients/<name>.pem|.key
  std::string stateDir;       // DIR/approvers/<name>: the TPM
  std::string tcti;           // what `sealgate approve --tpm` takes once it runs
  std::string startCommand;   // starts it in the background (pid in <stateDir>/swtpm.pid)
  std::string akFingerprint;  // of its enrolled AK (at 0x81010100)
};

struct DevInitReport {
  std::string dir;                     // DIR, absolute
  std::string config;                  // DIR/sealgated.conf
  std::vector<DevApprover> approvers;  // empty without a TPM
  std::string ekCaBundle;              // DIR/approvers/ca/bundle.pem (breakglass.ek_ca_file)
};

inline constexpr const char* kDevTokenLabel = "sealgate-dev";

// Client identities of a dev instance: name -> SPIFFE ID.
const std::vector<std::pair<std::string, std::string>>& devClients();

Result<DevInitReport> devInit(const DevInitOptions& options);

}  // namespace sealgate::appliance
