#include "attest/swtpm_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

namespace sealgate::attest {
namespace {

bool canConnect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Result<std::unique_ptr<SwtpmProcess>> SwtpmProcess::start(const std::string& stateDir) {
  std::unique_ptr<SwtpmProcess> p(new SwtpmProcess());
  p->socket_ = socketPath(stateDir);
  if (p->socket_.size() >= sizeof(sockaddr_un{}.sun_path) - 6) {
    return makeError(ErrorCode::TpmUnavailable, "the swtpm state folder path is too long for a unix socket");
  }
  const std::string server = "type=unixio,path=" + p->socket_;
  const std::string ctrl = "type=unixio,path=" + p->socket_ + ".ctrl";
  const std::string state = "dir=" + stateDir;
  p->pid_ = ::fork();
  if (p->pid_ < 0) return makeError(ErrorCode::TpmUnavailable, "fork failed");
  if (p->pid_ == 0) {
    // Quiet: swtpm logs every client disconnect on stderr.
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) ::dup2(devnull, STDERR_FILENO);
    ::execlp("swtpm", "swtpm", "socket", "--tpm2", "--server", server.c_str(), "--ctrl", ctrl.c_str(), "--tpmstate",
             state.c_str(), "--flags", "startup-clear", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
      p->pid_ = -1;
      return makeError(ErrorCode::TpmUnavailable, "swtpm exited at start (is the swtpm package installed?)");
    }
    if (canConnect(p->socket_)) return p;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return makeError(ErrorCode::TpmUnavailable, "swtpm did not become ready within 15 s");
}

SwtpmProcess::~SwtpmProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 300; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

}  // namespace sealgate::attest
