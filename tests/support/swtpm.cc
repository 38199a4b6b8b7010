#include "tests/support/swtpm.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace sealgate::testing {
namespace {

void writeText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string readText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs `argv` with stdout and stderr appended to `logPath`; returns the exit
// status (-1 if it did not exit normally).
int runLogged(const std::vector<std::string>& argv, const std::string& logPath) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
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
    if (errno != EINTR) throw std::runtime_error("waitpid failed");
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

SwtpmLocalCa::SwtpmLocalCa(const std::string& dir) : dir_(dir) {
  std::filesystem::create_directories(dir_);
  // The formats of /etc/swtpm-localca.conf and /etc/swtpm_setup.conf, with
  // every path under dir_. The options file (platform manufacturer, model and
  // version for platform certificates) is the distribution's, read only.
  writeText(dir_ + "/localca.conf", "statedir = " + dir_ + "\nsigningkey = " + dir_ + "/signkey.pem\nissuercert = " +
                                        issuerCertPath() + "\ncertserial = " + dir_ + "/certserial\n");
  writeText(dir_ + "/setup.conf", "create_certs_tool= /usr/bin/swtpm_localca\ncreate_certs_tool_config = " + dir_ +
                                      "/localca.conf\ncreate_certs_tool_options = /etc/swtpm-localca.options\n"
                                      "active_pcr_banks = sha256\n");
}

void SwtpmLocalCa::manufacture(const std::string& stateDir) const {
  std::filesystem::create_directories(stateDir);
  const std::string log = dir_ + "/setup.log";
  const int status = runLogged({"swtpm_setup", "--tpm2", "--config", dir_ + "/setup.conf", "--tpm-state", stateDir,
                                "--create-ek-cert", "--lock-nvram", "--overwrite"},
                               log);
  if (status != 0) {
    throw std::runtime_error("swtpm_setup failed (exit " + std::to_string(status) + ") for " + stateDir + ":\n" +
                             readText(log));
  }
}

std::string SwtpmLocalCa::bundlePath() const {
  const std::string path = dir_ + "/bundle.pem";
  const std::string issuer = readText(issuerCertPath());
  const std::string root = readText(rootCertPath());
  if (issuer.empty() || root.empty()) throw std::runtime_error("the local CA in " + dir_ + " has no certificates yet");
  writeText(path, issuer + root);
  return path;
}

Swtpm::Swtpm(const std::string& dir) {
  auto started = attest::SwtpmProcess::start(dir);
  if (!started) throw std::runtime_error(started.error().describe());
  process_ = std::move(*started);
}

Swtpm::Swtpm(const std::string& dir, const SwtpmLocalCa& ca) {
  ca.manufacture(dir);
  auto started = attest::SwtpmProcess::start(dir);
  if (!started) throw std::runtime_error(started.error().describe());
  process_ = std::move(*started);
}

}  // namespace sealgate::testing
