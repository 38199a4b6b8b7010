// `sealgate dev-init --dir DIR`: a complete development instance (docs/DEVELOPMENT.md,
// "Development instance"): config, SoftHSM2 token with every key of docs/DESIGN.md, dev CA, server and
// client certificates, and data folders.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

namespace sealgate::appliance {

struct DevInitOptions {
  std::string dir;
  std::string module = "/usr/lib/softhsm/libsofthsm2.so";
  bool force = false;  // replace an existing instance in DIR
  // "none": no TPM (the config says rollback_protection "none");
  // "swtpm": a software TPM whose state lives in DIR/tpm (start it with
  // `swtpm socket --tpm2 --tpmstate dir=DIR/tpm ...`, see docs/STATE.md).
  std::string tpm = "none";
};

inline constexpr const char* kDevTokenLabel = "sealgate-dev";

// Client identities of a dev instance: name -> SPIFFE ID.
const std::vector<std::pair<std::string, std::string>>& devClients();

Result<void> devInit(const DevInitOptions& options);

}  // namespace sealgate::appliance
