// Test support: a real, throwaway PostgreSQL 15 (docs/DEVELOPMENT.md, "PostgreSQL"): initdb in a
// temp dir, pg_ctl start on a free loopback port in 15000-31999 plus a unix
// socket dir, scram-sha-256 over TCP, trust over the socket; stopped (immediate)
// and removed on destruction. Runs the server as `postgres` when we are root.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace sealgate::testing {

class Postgres {
 public:
  // Null when PostgreSQL could not be started (the reason is printed).
  static std::unique_ptr<Postgres> start();
  ~Postgres();
  const std::string& socketDir() const { return dir_; }
  std::uint16_t port() const { return port_; }
  // Runs one SQL statement as the superuser through psql; its stdout.
  std::string psql(const std::string& sql, const std::string& db = "postgres") const;

 private:
  Postgres() = default;
  std::string dir_;
  std::uint16_t port_ = 0;
};

// A loopback TCP port in 15000-31999 that nothing uses (docs/DEVELOPMENT.md, "Ports and readiness").
std::uint16_t freeLoopbackPort();

}  // namespace sealgate::testing
