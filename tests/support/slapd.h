// Test support: a real OpenLDAP slapd (docs/DEVELOPMENT.md, "OpenLDAP slapd") in a temp dir: its own
// slapd.conf (core, cosine, nis, inetorgperson schemas; mdb backend), a base
// LDIF with a service account and a few inetOrgPerson users, and a plain
// ldap:// plus an ldaps:// listener on free loopback ports. The ldaps
// certificate (IP 127.0.0.1, DNS localhost) comes from a test CA made here with
// the openssl CLI; a second, unrelated CA is made for wrong-CA tests. Stopped by
// PID on destruction.
#pragma once

#include <cstdint>
#include <string>

#include "tests/support/server_process.h"

namespace sealgate::testing {

class Slapd {
 public:
  static constexpr const char* kBaseDn = "dc=example,dc=org";
  static constexpr const char* kServiceDn = "cn=svc,dc=example,dc=org";
  // Users uid=alice, bob, carol (ou=people): cn "<Name> Example", mail "<uid>@example.org".
  static constexpr int kUserCount = 3;

  // Throws std::runtime_error with the reason when slapd cannot be started.
  Slapd();
  ~Slapd() = default;
  Slapd(const Slapd&) = delete;
  Slapd& operator=(const Slapd&) = delete;

  std::uint16_t port() const { return port_; }
  std::uint16_t tlsPort() const { return tlsPort_; }
  std::string url() const { return "ldap://127.0.0.1:" + std::to_string(port_); }
  std::string ldapsUrl() const { return "ldaps://127.0.0.1:" + std::to_string(tlsPort_); }
  // The service account's password (random per run); anonymous users can read nothing.
  const std::string& servicePassword() const { return servicePassword_; }
  // PEM bundle of the CA that issued the server certificate, and of an unrelated CA.
  std::string caFile() const { return dir_ + "/ca.pem"; }
  std::string otherCaFile() const { return dir_ + "/other-ca.pem"; }
  void stop() { process_.stop(); }

 private:
  ScopedTempDir tempDir_;
  const std::string& dir_ = tempDir_.path();
  std::uint16_t port_ = 0;
  std::uint16_t tlsPort_ = 0;
  std::string servicePassword_;
  ServerProcess process_;
};

}  // namespace sealgate::testing
