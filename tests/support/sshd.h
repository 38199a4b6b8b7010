// Test support: a real OpenSSH sshd in a temp dir on a free loopback port, with
// its own config and ed25519 host key, stopped by PID on destruction.
//
// Password authentication needs a real system user with a password, so the
// harness creates `sealgate-ssh-test` (home /, /bin/sh) when it is missing and
// sets a fresh random password with chpasswd. That needs root: without it the
// constructor throws (tests fail, never skip). Because the user's password is
// machine-wide, harnesses in concurrent test processes (and tests/e2e/sshd.py)
// take turns on /tmp/sealgate-ssh-test.lock for their whole lifetime.
#pragma once

#include <cstdint>
#include <string>

#include "tests/support/server_process.h"

namespace sealgate::testing {

class Sshd {
 public:
  static constexpr const char* kUser = "sealgate-ssh-test";

  // Throws std::runtime_error with the reason when sshd cannot be started.
  Sshd();
  ~Sshd();
  Sshd(const Sshd&) = delete;
  Sshd& operator=(const Sshd&) = delete;

  std::uint16_t port() const { return port_; }
  // The host key's fingerprint as `ssh-keygen -lf` prints it: "SHA256:<base64, no padding>".
  const std::string& hostKeySha256() const { return hostKeySha256_; }
  const std::string& password() const { return password_; }
  // Client private keys whose public halves are in the user's authorized keys:
  // an OpenSSH-format ed25519 key without passphrase, a PEM (SEC1) ECDSA key,
  // and an OpenSSH-format ed25519 key encrypted with passphrase().
  std::string clientKey() const { return readFile(dir_ + "/client_ed25519"); }
  std::string clientKeyPem() const { return readFile(dir_ + "/client_ecdsa_pem"); }
  std::string encryptedClientKey() const { return readFile(dir_ + "/client_encrypted"); }
  const std::string& passphrase() const { return passphrase_; }
  // sshd's log (-e): "Accepted ..." lines show which logins succeeded.
  std::string log() const { return readFile(dir_ + "/sshd.log"); }
  // Stops the server early (its port then refuses connections).
  void stop() { process_.stop(); }

 private:
  // Members in this order: a throwing constructor still releases the lock and
  // removes the dir (and a later harness in the process cannot deadlock on it).
  ExclusiveFileLock lock_;
  ScopedTempDir tempDir_;
  const std::string& dir_ = tempDir_.path();
  std::uint16_t port_ = 0;
  std::string hostKeySha256_;
  std::string password_;
  std::string passphrase_;
  ServerProcess process_;
};

}  // namespace sealgate::testing
