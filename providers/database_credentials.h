// PostgreSQL dynamic credentials with the semantics of Vault's database engine
// (docs/STANDARDS.md "Leases"): roles with creation statements, default_ttl and
// max_ttl; every credential is a lease; renew is capped by max_ttl; revoke sets
// NOLOGIN, terminates the role's live sessions, drops what it owns in every
// database, then drops the role (DROP ROLE alone leaves sessions running);
// revoke-prefix; an expiry reaper.
//
// Leases live in the StateStore (durable before a credential is handed out), so a
// restart neither forgets a lease nor revokes one twice: a lease is written
// before its role is created and deleted only after its role is gone, and a
// revoke of a role that no longer exists just finishes the bookkeeping.
//
// SQL is injection-safe: generated names and passwords are escaped with
// PQescapeIdentifier / PQescapeLiteral wherever a template puts them, and every
// other value travels as a bind parameter.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/interfaces/lease_backend.h"
#include "core/interfaces/secret_provider.h"
#include "core/interfaces/state_store.h"
#include "core/result.h"
#include "core/secret.h"

namespace sealgate::providers {

namespace db_errc {
inline constexpr ErrorCode kNoRole = ErrorCode::DbRoleNotFound;  // no such role configured
inline constexpr ErrorCode kNoLease = ErrorCode::LeaseNotFound;  // no such lease
inline constexpr ErrorCode kInvalid = ErrorCode::LeaseInvalid;   // a malformed lease id, prefix or increment
}  // namespace db_errc

struct DatabaseRole {
  std::vector<std::string> creationStatements;    // {{name}}, {{password}}, {{expiration}} placeholders
  std::vector<std::string> revocationStatements;  // run before the standard revoke steps; {{name}}
  std::chrono::seconds defaultTtl{3600};
  std::chrono::seconds maxTtl{86400};
};

struct DatabaseConnection {
  std::string host;  // a host name, an address or a unix socket directory
  std::uint16_t port = 5432;
  std::string dbname = "postgres";
  std::string user = "postgres";
  std::string passwordFile;  // optional (e.g. trust or peer over the socket)
  std::chrono::seconds connectTimeout{5};
};

// One `database` mount of one tenant: secret://<tenant>/<mount>/<role>#username|password.
struct DatabaseMount {
  std::string tenant;
  std::string mount;
  DatabaseConnection connection;
  std::map<std::string, DatabaseRole> roles;
};

// The lease and the credential as the lease API sees them (core/interfaces/lease_backend.h).
using LeaseInfo = sealgate::LeaseInfo;
using DatabaseCredential = sealgate::LeasedCredential;

class DatabaseCredentials : public SecretProvider, public LeaseBackend {
 public:
  using Clock = StateStore::Clock;
  DatabaseCredentials(std::vector<DatabaseMount> mounts, StateStore& state);
  ~DatabaseCredentials() override;

  bool hasMount(const std::string& tenant, const std::string& mount) const override;

  // Creates a role's credential: lease first (durable), then the PostgreSQL role.
  Result<DatabaseCredential> create(const std::string& tenant, const std::string& mount, const std::string& role,
                                    Clock::time_point now) override;
  Result<DatabaseCredential> create(const std::string& tenant, const std::string& mount, const std::string& role) {
    return create(tenant, mount, role, Clock::now());
  }
  // Extends the lease by `increment` (0: the role's default_ttl), never past
  // issue time + max_ttl; also moves the role's VALID UNTIL.
  Result<LeaseInfo> renew(const std::string& leaseId, std::chrono::seconds increment, Clock::time_point now) override;
  Result<LeaseInfo> renew(const std::string& leaseId, std::chrono::seconds increment) {
    return renew(leaseId, increment, Clock::now());
  }
  Result<LeaseInfo> lookup(const std::string& leaseId) const override;
  // Revokes at PostgreSQL, then forgets the lease. An unknown lease is LEASE_NOT_FOUND.
  Result<void> revoke(const std::string& leaseId) override;
  // Revokes every lease whose id starts with `prefix`; the number revoked.
  Result<std::size_t> revokePrefix(const std::string& prefix) override;
  // Revokes every expired lease; the number revoked (failures stay for the next pass).
  std::size_t reapExpired(Clock::time_point now = Clock::now());
  std::vector<LeaseInfo> leases() const override;

  // Runs reapExpired every `interval` until stop() (or destruction).
  void startReaper(std::chrono::milliseconds interval);
  void stopReaper();

  // SecretProvider: `#username` / `#password` of a role; fetches with the same
  // FetchContext::requestId share one credential (one lease).
  Result<FetchedSecret> fetch(const SecretUri& uri, std::optional<std::uint32_t> version,
                              const FetchContext& context) override;
  using SecretProvider::fetch;
  bool healthy() const override;

 private:
  const DatabaseMount* findMount(const std::string& tenant, const std::string& mount) const;
  Result<void> revokeLease(const LeaseInfo& lease);

  std::vector<DatabaseMount> mounts_;
  StateStore& state_;
  mutable std::mutex mu_;  // serialises lease changes
  struct Shared {
    std::string leaseId;
    std::string username;
    Secret password;
    Clock::time_point at;
  };
  std::map<std::string, Shared> shared_;  // requestId -> credential, for one request's fetches
  std::mutex reaperMu_;
  std::condition_variable reaperCv_;
  bool reaperStop_ = false;
  std::thread reaper_;
};

// Lease ids: <tenant>/<mount>/creds/<role>/<24 hex>.
bool isValidLeaseId(const std::string& id);
bool isValidLeasePrefix(const std::string& prefix);

}  // namespace sealgate::providers
