#include "attest/swtpm_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

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

Error setupError(const std::string& what) { return makeError(ErrorCode::TpmUnavailable, what); }

Result<void> writeText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  if (!f) return setupError("cannot write " + path);
  return Ok{};
}

std::string readText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs `argv` with stdout and stderr appended to `logPath`; the exit status
// (-1 if it did not exit normally, 127 if it could not be run).
Result<int> runLogged(const std::vector<std::string>& argv, const std::string& logPath) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return setupError("fork failed");
  if (pid == 0) {
    const int log = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log >= 0) {
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
    }
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return setupError("waitpid failed");
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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

Result<SwtpmLocalCa> SwtpmLocalCa::create(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return setupError("cannot create " + dir + ": " + ec.message());
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  SwtpmLocalCa ca(dir);
  // The formats of /etc/swtpm-localca.conf and /etc/swtpm_setup.conf, with
  // every path under dir. The options file (platform manufacturer, model and
  // version for platform certificates) is the distribution's, read only.
  SEALGATE_TRY(writeText(dir + "/localca.conf", "statedir = " + dir + "\nsigningkey = " + dir +
                                                    "/signkey.pem\nissuercert = " + ca.issuerCertPath() +
                                                    "\ncertserial = " + dir + "/certserial\n"));
  SEALGATE_TRY(
      writeText(dir + "/setup.conf", "create_certs_tool= /usr/bin/swtpm_localca\ncreate_certs_tool_config = " + dir +
                                         "/localca.conf\ncreate_certs_tool_options = "
                                         "/etc/swtpm-localca.options\nactive_pcr_banks = sha256\n"));
  return ca;
}

Result<void> SwtpmLocalCa::manufacture(const std::string& stateDir) const {
  std::error_code ec;
  std::filesystem::create_directories(stateDir, ec);
  if (ec) return setupError("cannot create " + stateDir + ": " + ec.message());
  // The state folder is the TPM (its seeds included): the user's only.
  std::filesystem::permissions(stateDir, std::filesystem::perms::owner_all, ec);
  const std::string log = dir_ + "/setup.log";
  SEALGATE_ASSIGN_OR_RETURN(
      const int status, runLogged({"swtpm_setup", "--tpm2", "--config", dir_ + "/setup.conf", "--tpm-state", stateDir,
                                   "--create-ek-cert", "--lock-nvram", "--overwrite"},
                                  log));
  if (status != 0) {
    return setupError("swtpm_setup failed (exit " + std::to_string(status) + ") for " + stateDir +
                      (status == 127 ? " (is the swtpm-tools package installed?)" : "") + ":\n" + readText(log));
  }
  return Ok{};
}

Result<std::string> SwtpmLocalCa::writeBundle() const {
  const std::string path = dir_ + "/bundle.pem";
  const std::string issuer = readText(issuerCertPath());
  const std::string root = readText(rootCertPath());
  if (issuer.empty() || root.empty()) return setupError("the local CA in " + dir_ + " has no certificates yet");
  SEALGATE_TRY(writeText(path, issuer + root));
  return path;
}

}  // namespace sealgate::attest
