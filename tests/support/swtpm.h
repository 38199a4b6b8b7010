// Test support: a software TPM (swtpm) on a unix socket in a temp dir, started
// and stopped by PID (RECIPES.md §5).
#pragma once

#include <sys/types.h>

#include <string>

namespace sealgate::testing {

class Swtpm {
 public:
  // Starts swtpm with fresh state under `dir`; throws std::runtime_error on failure.
  explicit Swtpm(const std::string& dir);
  ~Swtpm();
  Swtpm(const Swtpm&) = delete;
  Swtpm& operator=(const Swtpm&) = delete;

  // TCTI string for tpm2-tss (e.g. TPM2_PKCS11_TCTI).
  std::string tcti() const { return "swtpm:path=" + socketPath_; }

 private:
  std::string socketPath_;
  pid_t pid_ = -1;
};

}  // namespace sealgate::testing
