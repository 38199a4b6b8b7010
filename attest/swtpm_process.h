// A software TPM (swtpm) process on a unix socket, for development instances,
// the demo and tests (docs/DEVELOPMENT.md, "swtpm"). Started with startup-clear; stopped by PID.
// And a local TPM vendor CA that manufactures swtpm states with endorsement keys
// and EK certificates (docs/DEVELOPMENT.md, "swtpm with EK certificates"): the
// approver TPMs of a development instance and of the tests.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "core/result.h"

namespace sealgate::attest {

class SwtpmProcess {
 public:
  // Starts `swtpm socket --tpm2` with its state in `stateDir` (created state is
  // kept there: the same folder is the same TPM) and waits until it accepts
  // connections.
  static Result<std::unique_ptr<SwtpmProcess>> start(const std::string& stateDir);
  ~SwtpmProcess();
  SwtpmProcess(const SwtpmProcess&) = delete;
  SwtpmProcess& operator=(const SwtpmProcess&) = delete;

  // The socket path and TCTI string (swtpm:path=...). The TCTI finds the
  // control socket at <path>.ctrl.
  static std::string socketPath(const std::string& stateDir) { return stateDir + "/swtpm.sock"; }
  std::string tcti() const { return "swtpm:path=" + socket_; }
  pid_t pid() const { return pid_; }

 private:
  SwtpmProcess() = default;
  std::string socket_;
  pid_t pid_ = -1;
};

// A TPM vendor's CA for development and tests: swtpm_localca with its state
// (root CA, issuing CA, signing key, serial) in `dir`, never the machine-wide
// /var/lib/swtpm-localca. Several TPM states manufactured by one SwtpmLocalCa
// share that CA, as a site's TPMs share their vendor's. The CA's keys are
// created by the first manufacture().
class SwtpmLocalCa {
 public:
  // Writes DIR/localca.conf and DIR/setup.conf (creating DIR, private to the user).
  static Result<SwtpmLocalCa> create(const std::string& dir);

  // `swtpm_setup --tpm2 --create-ek-cert --lock-nvram --overwrite` into
  // `stateDir` (created if missing): RSA-2048 and ECC P-384 EKs at 0x81010001 and
  // 0x81010016, their certificates in NV 0x1c00002 and 0x1c00016, signed by this
  // CA; the SHA-256 PCR bank only. swtpm_setup's output goes to DIR/setup.log
  // (and into the error when it fails). Start the TPM with SwtpmProcess::start.
  Result<void> manufacture(const std::string& stateDir) const;

  // After the first manufacture(): the issuing CA (it signs EK certificates),
  // the self-signed root that signs it, and both in one PEM file (the vendor CA
  // bundle a verifier is configured with; written at each call).
  std::string issuerCertPath() const { return dir_ + "/issuercert.pem"; }
  std::string rootCertPath() const { return dir_ + "/swtpm-localca-rootca-cert.pem"; }
  Result<std::string> writeBundle() const;
  const std::string& dir() const { return dir_; }

 private:
  explicit SwtpmLocalCa(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace sealgate::attest
