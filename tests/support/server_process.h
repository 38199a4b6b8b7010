// Test support shared by the sshd and slapd harnesses: a foreground server
// started by fork/exec and stopped by its PID (docs/DEVELOPMENT.md, "Ports and readiness"), and shell helpers
// for the set-up tools (ssh-keygen, openssl, slapadd).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace sealgate::testing {

// A command's exit status and its stdout (stderr goes to the test's output).
struct CommandResult {
  int status = -1;
  std::string out;
};
CommandResult runShell(const std::string& command);
// Runs `command` and throws std::runtime_error naming `what` when it fails.
std::string runShellOrThrow(const std::string& command, const std::string& what);
// Writes `text` to `path` with `mode`; throws on failure.
void writeFile(const std::string& path, const std::string& text, unsigned mode = 0644);
std::string readFile(const std::string& path);
// `length` random characters of [A-Za-z0-9].
std::string randomToken(std::size_t length);

class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts argv[0] (an absolute path) with stdout and stderr appended to
  // `logPath`, then polls `ready` until it is true (true), the process exits
  // (false: e.g. its port was taken) or `timeout` passes (throws, with the log:
  // the harness's temp dir is gone by the time anyone reads the message).
  bool start(const std::vector<std::string>& argv, const std::string& logPath, const std::function<bool()>& ready,
             std::chrono::seconds timeout = std::chrono::seconds(30));
  bool running() const { return pid_ > 0; }
  // SIGTERM, then SIGKILL if it has not exited within 5 s; waits for it.
  void stop();

 private:
  pid_t pid_ = -1;
};

// A fresh temp dir, removed with everything in it on destruction.
class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& prefix);
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// An exclusive flock on `path`, held (waiting for it first) until destruction.
class ExclusiveFileLock {
 public:
  explicit ExclusiveFileLock(const std::string& path);
  ~ExclusiveFileLock();
  ExclusiveFileLock(const ExclusiveFileLock&) = delete;
  ExclusiveFileLock& operator=(const ExclusiveFileLock&) = delete;

 private:
  int fd_ = -1;
};

// True when a TCP connection to 127.0.0.1:port succeeds.
bool canConnectLoopback(unsigned short port);

}  // namespace sealgate::testing
