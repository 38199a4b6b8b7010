// dev-init's key material (docs/DEVELOPMENT.md, "Development instance"): a fresh
// SoftHSM2 token holding every key an instance needs (docs/DESIGN.md, "Keys"),
// and a software TPM. Development only: the daemon does not link this.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/encoding.h"
#include "core/key_labels.h"
#include "core/result.h"
#include "core/secret.h"

namespace sealgate::attest {
class SwtpmProcess;
}

namespace sealgate::appliance {

// The keys every instance holds.
inline const std::vector<std::string> kDevHmacKeys{versionedLabel(key_labels::kRefHmac, 1)};
inline const std::vector<std::string> kDevEcKeys{versionedLabel(key_labels::kGrantSigning, 1),
                                                 versionedLabel(key_labels::kAuditSigning, 1), key_labels::kTls};
inline const std::vector<std::string> kDevAesKeys{key_labels::kKek};

// Initialises the token `tokenLabel` of `module` (SOFTHSM2_CONF must be set) with
// the two PINs, generates every key above in it, and returns the TLS key's
// public half (SubjectPublicKeyInfo, DER) for its certificate. `userPinFile`
// holds the user PIN, as the instance's config names it.
Result<Bytes> createDevToken(const std::string& module, const std::string& tokenLabel, const Secret& soPin,
                             const Secret& userPin, const std::string& userPinFile);

// TPM states "as a vendor ships them" for development: a local TPM vendor CA
// (swtpm_localca, its keys and configuration in `caDir`) and, for each of
// `stateDirs`, an swtpm state with RSA-2048 and ECC EKs and EK certificates
// signed by that CA (docs/DEVELOPMENT.md, "swtpm with EK certificates").
// Returns the CA bundle (issuing CA and root, PEM) a verifier is configured
// with: breakglass.ek_ca_file.
Result<std::string> manufactureDevTpms(const std::string& caDir, const std::vector<std::string>& stateDirs);

// A software TPM (swtpm) whose state lives in a folder; stopped on destruction.
class DevSoftwareTpm {
 public:
  static Result<std::unique_ptr<DevSoftwareTpm>> start(const std::string& stateDir);
  // The TCTI an instance's config names for the TPM kept in `stateDir`.
  static std::string tcti(const std::string& stateDir);
  // The command that starts it later (what DevSoftwareTpm::start runs), in the
  // background: `swtpm socket --tpm2 ... --flags startup-clear --daemon
  // --pid file=<stateDir>/swtpm.pid`; stop it with `kill $(cat <stateDir>/swtpm.pid)`.
  static std::string startCommand(const std::string& stateDir);
  ~DevSoftwareTpm();
  DevSoftwareTpm(const DevSoftwareTpm&) = delete;
  DevSoftwareTpm& operator=(const DevSoftwareTpm&) = delete;

 private:
  DevSoftwareTpm() = default;
  std::unique_ptr<attest::SwtpmProcess> process_;
};

}  // namespace sealgate::appliance
