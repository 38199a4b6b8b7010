// Test support: a software TPM (swtpm) in a temp dir, started and stopped by PID
// (attest/swtpm_process.h; docs/DEVELOPMENT.md, "swtpm"), and a local EK CA to
// manufacture swtpm states with endorsement keys and EK certificates
// (docs/DEVELOPMENT.md, "swtpm with EK certificates").
#pragma once

#include <memory>
#include <string>

#include "attest/swtpm_process.h"

namespace sealgate::testing {

// A TPM vendor's CA for tests: attest::SwtpmLocalCa (swtpm_localca with its
// state in `dir`, never the machine-wide /var/lib/swtpm-localca), throwing
// instead of returning errors. Several TPM states manufactured by one
// SwtpmLocalCa share that CA, as a site's TPMs share their vendor's. The CA's
// keys are created by the first manufacture().
class SwtpmLocalCa {
 public:
  // Writes DIR/localca.conf and DIR/setup.conf (creating DIR); throws
  // std::runtime_error on failure.
  explicit SwtpmLocalCa(const std::string& dir);

  // `swtpm_setup --tpm2 --create-ek-cert --lock-nvram --overwrite` into
  // `stateDir` (created if missing): RSA-2048 and ECC P-384 EKs at 0x81010001 and
  // 0x81010016, their certificates in NV 0x1c00002 and 0x1c00016, signed by this
  // CA; the SHA-256 PCR bank only. swtpm_setup's log goes to DIR/setup.log.
  // Throws std::runtime_error on failure. Start the TPM with Swtpm(stateDir).
  void manufacture(const std::string& stateDir) const;

  // After the first manufacture(): the issuing CA (it signs EK certificates),
  // the self-signed root that signs it, and both in one PEM file (the vendor CA
  // bundle a verifier is configured with; written at each call).
  std::string issuerCertPath() const { return ca_->issuerCertPath(); }
  std::string rootCertPath() const { return ca_->rootCertPath(); }
  std::string bundlePath() const;
  const std::string& dir() const { return ca_->dir(); }

 private:
  std::unique_ptr<attest::SwtpmLocalCa> ca_;
};

class Swtpm {
 public:
  // Starts swtpm with its state under `dir` (kept: the same dir is the same
  // TPM); throws std::runtime_error on failure.
  explicit Swtpm(const std::string& dir);
  // Manufactures `dir` with `ca` (SwtpmLocalCa::manufacture), then starts it.
  Swtpm(const std::string& dir, const SwtpmLocalCa& ca);

  // TCTI string for tpm2-tss (e.g. TPM2_PKCS11_TCTI).
  std::string tcti() const { return process_->tcti(); }

 private:
  std::unique_ptr<attest::SwtpmProcess> process_;
};

}  // namespace sealgate::testing
