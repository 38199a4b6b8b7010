// LeaseBackend: dynamic credentials that live under a lease, as the lease API
// (appliance/kv/lease_api.h) and Vault's `sys/leases` see them
// (docs/STANDARDS.md "Leases"). providers::DatabaseCredentials (PostgreSQL) is
// the implementation; unit tests use an in-memory one.
//
// Contract:
//  - create() makes the lease durable before the credential exists, and hands
//    the password out only in a `Secret`;
//  - an unknown lease id is LEASE_NOT_FOUND, a malformed one LEASE_INVALID, an
//    unknown role DB_ROLE_NOT_FOUND; a lease-state failure carries the state's
//    code; anything else is the backend's own code (the API maps it);
//  - no error message carries a password.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/secret.h"

namespace sealgate {

struct LeaseInfo {
  using Clock = std::chrono::system_clock;
  std::string leaseId;  // <tenant>/<mount>/creds/<role>/<24 hex>
  std::string tenant, mount, role, username;
  Clock::time_point issueTime, lastRenewal, expireTime, maxExpireTime;
  // What is left of the lease at `now`, never negative.
  std::chrono::seconds ttl(Clock::time_point now) const {
    return std::max(std::chrono::seconds(0), std::chrono::duration_cast<std::chrono::seconds>(expireTime - now));
  }
};

struct LeasedCredential {
  LeaseInfo lease;
  Secret password;
};

class LeaseBackend {
 public:
  using Clock = std::chrono::system_clock;
  virtual ~LeaseBackend() = default;

  // True when `tenant` has a mount of this backend named `mount`.
  virtual bool hasMount(const std::string& tenant, const std::string& mount) const = 0;
  // A new credential of `role`, its lease durable first.
  virtual Result<LeasedCredential> create(const std::string& tenant, const std::string& mount, const std::string& role,
                                          Clock::time_point now) = 0;
  // Extends the lease by `increment` (0: the role's default), within its maximum.
  virtual Result<LeaseInfo> renew(const std::string& leaseId, std::chrono::seconds increment,
                                  Clock::time_point now) = 0;
  virtual Result<LeaseInfo> lookup(const std::string& leaseId) const = 0;
  // Revokes the credential, then forgets the lease.
  virtual Result<void> revoke(const std::string& leaseId) = 0;
  // Revokes every lease whose id starts with `prefix`; the number revoked.
  virtual Result<std::size_t> revokePrefix(const std::string& prefix) = 0;
  virtual std::vector<LeaseInfo> leases() const = 0;
};

}  // namespace sealgate
