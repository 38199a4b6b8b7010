// Test support: a software TPM (swtpm) in a temp dir, started and stopped by PID
// (attest/swtpm_process.h; docs/DEVELOPMENT.md, "swtpm").
#pragma once

#include <memory>
#include <string>

#include "attest/swtpm_process.h"

namespace sealgate::testing {

class Swtpm {
 public:
  // Starts swtpm with its state under `dir` (kept: the same dir is the same
  // TPM); throws std::runtime_error on failure.
  explicit Swtpm(const std::string& dir);

  // TCTI string for tpm2-tss (e.g. TPM2_PKCS11_TCTI).
  std::string tcti() const { return process_->tcti(); }

 private:
  std::unique_ptr<attest::SwtpmProcess> process_;
};

}  // namespace sealgate::testing
