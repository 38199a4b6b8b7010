#include "tests/support/sshd.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "tests/support/postgres.h"

namespace sealgate::testing {
namespace {

constexpr const char* kSshd = "/usr/sbin/sshd";
constexpr const char* kLockFile = "/tmp/sealgate-ssh-test.lock";

void ensureUserWithPassword(const std::string& password) {
  const std::string user = Sshd::kUser;
  // Home "/": it exists, so sshd prints no "Could not chdir" into the command's stderr.
  if (runShell("id -u " + user + " >/dev/null 2>&1").status != 0) {
    runShellOrThrow("useradd -M -d / -s /bin/sh " + user, "useradd " + user);
  } else if (runShell("getent passwd " + user + " | cut -d: -f6").out != "/\n") {
    runShellOrThrow("usermod -d / " + user, "usermod " + user);
  }
  // The password goes through chpasswd's stdin, not its command line.
  FILE* p = ::popen("chpasswd", "w");
  if (p == nullptr) throw std::runtime_error("cannot run chpasswd");
  const std::string line = user + ":" + password + "\n";
  std::fwrite(line.data(), 1, line.size(), p);
  if (::pclose(p) != 0) throw std::runtime_error("chpasswd failed for " + user);
}

void keygen(const std::string& path, const std::string& type, const std::string& passphrase,
            const std::string& format = "") {
  runShellOrThrow("ssh-keygen -q -t " + type + (format.empty() ? "" : " -m " + format) + " -N '" + passphrase +
                      "' -C sealgate-test -f " + path + " </dev/null >/dev/null",
                  "ssh-keygen " + path);
}

std::string sshdConfig(const std::string& dir) {
  std::ostringstream c;
  c << "ListenAddress 127.0.0.1\n"
    << "HostKey " << dir << "/host_key\n"
    << "PidFile " << dir << "/sshd.pid\n"
    << "AuthorizedKeysFile " << dir << "/authorized_keys\n"
    << "AllowUsers " << Sshd::kUser << "\n"
    << "UsePAM no\n"
    << "PasswordAuthentication yes\n"
    << "KbdInteractiveAuthentication no\n"
    << "PubkeyAuthentication yes\n"
    << "PermitRootLogin no\n"
    // The temp dir is root's; the user only needs to read authorized_keys.
    << "StrictModes no\n"
    << "LogLevel VERBOSE\n";
  return c.str();
}

const char* requireRoot() {
  if (::geteuid() != 0) {
    throw std::runtime_error(
        "the sshd harness must run as root: it creates the system user sealgate-ssh-test and sets its password");
  }
  return kLockFile;
}

}  // namespace

Sshd::Sshd() : lock_(requireRoot()), tempDir_("sealgate-sshd") {
  // sshd reads authorized_keys as the user: the dir must be traversable.
  ::chmod(dir_.c_str(), 0755);
  // The privilege separation dir sshd insists on; absent on machines that never ran sshd.
  std::filesystem::create_directories("/run/sshd");
  ::chmod("/run/sshd", 0755);

  password_ = randomToken(24);
  passphrase_ = randomToken(16);
  ensureUserWithPassword(password_);

  keygen(dir_ + "/host_key", "ed25519", "");
  keygen(dir_ + "/client_ed25519", "ed25519", "");
  keygen(dir_ + "/client_ecdsa_pem", "ecdsa", "", "PEM");
  keygen(dir_ + "/client_encrypted", "ed25519", passphrase_);
  writeFile(dir_ + "/authorized_keys", readFile(dir_ + "/client_ed25519.pub") +
                                           readFile(dir_ + "/client_ecdsa_pem.pub") +
                                           readFile(dir_ + "/client_encrypted.pub"));
  // "256 SHA256:... comment (ED25519)"
  std::istringstream fp(runShellOrThrow("ssh-keygen -l -E sha256 -f " + dir_ + "/host_key.pub", "ssh-keygen -l"));
  std::string bits;
  fp >> bits >> hostKeySha256_;
  writeFile(dir_ + "/sshd_config", sshdConfig(dir_));
  runShellOrThrow(std::string(kSshd) + " -t -f " + dir_ + "/sshd_config", "sshd -t (config check)");

  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = freeLoopbackPort();
    if (port_ == 0) continue;
    const std::uint16_t port = port_;
    if (process_.start({kSshd, "-D", "-e", "-f", dir_ + "/sshd_config", "-p", std::to_string(port)}, dir_ + "/sshd.log",
                       [port] { return canConnectLoopback(port); })) {
      return;
    }
  }
  throw std::runtime_error("sshd did not start; its log:\n" + readFile(dir_ + "/sshd.log"));
}

Sshd::~Sshd() = default;

}  // namespace sealgate::testing
