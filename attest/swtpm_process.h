// A software TPM (swtpm) process on a unix socket, for development instances,
// the demo and tests (docs/DEVELOPMENT.md, "swtpm"). Started with startup-clear; stopped by PID.
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

}  // namespace sealgate::attest
