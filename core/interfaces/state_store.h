// StateStore: anti-replay, use-count and lease truth. Implementations: in-memory
// (tests), the sealed local journal (default, appliance/sealed_state_store.h),
// etcd (cluster).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace sealgate {

// Error codes every StateStore uses. Callers answer 503 with the code for any
// STATE_* error other than the grant ones (fail closed).
namespace state_errc {
inline constexpr const char* kUnavailable = "STATE_UNAVAILABLE";  // cannot make a change durable (I/O, timeout)
inline constexpr const char* kTampered = "STATE_TAMPERED";        // authentication of stored state failed
inline constexpr const char* kRollback = "STATE_ROLLBACK";        // stored state is older than its anchor
inline constexpr const char* kMissing = "STATE_MISSING";          // no state where state must be
inline constexpr const char* kFull = "STATE_FULL";                // the live-entry cap is reached
}  // namespace state_errc

class StateStore {
 public:
  using Clock = std::chrono::system_clock;
  virtual ~StateStore() = default;

  // Records `id` (a DPoP or grant jti) as seen until `expiresAt`.
  // Contract: atomic and durable before returning; returns false when `id` was
  // already recorded and has not expired (a replay). Any failure to make the
  // record durable is an Error: callers fail closed.
  virtual Result<bool> rememberOnce(const std::string& id, Clock::time_point expiresAt) = 0;

  // Takes one use of grant `grantId`, created with `maxUses` on first use.
  // Contract: linearizable per grant; returns the remaining uses after taking
  // one, or the Error GRANT_EXHAUSTED when none remain. Durable before returning.
  virtual Result<std::uint32_t> takeUse(const std::string& grantId, std::uint32_t maxUses,
                                        Clock::time_point expiresAt) {
    return takeUses(grantId, 1, maxUses, expiresAt);
  }

  // Takes `count` uses at once, all or nothing (delegation reserves a child's uses
  // from its parent). GRANT_EXHAUSTED when fewer than `count` remain.
  virtual Result<std::uint32_t> takeUses(const std::string& grantId, std::uint32_t count, std::uint32_t maxUses,
                                         Clock::time_point expiresAt) = 0;

  // Marks a grant revoked: later takeUse calls fail with GRANT_REVOKED. Durable.
  virtual Result<void> revoke(const std::string& grantId, Clock::time_point expiresAt) = 0;

  // Grants that have been used or revoked and have not expired (admin listing).
  struct GrantState {
    std::string grantId;
    std::uint32_t remaining = 0;
    bool revoked = false;
    Clock::time_point expiresAt;
  };
  virtual std::vector<GrantState> grants() const = 0;

  // Grants whose iat is before this instant are refused: the state was
  // initialised then and knows nothing of their uses. The epoch: no cut-off.
  virtual Clock::time_point grantsIssuedFrom() const { return {}; }

  // Leases of dynamic credentials. Unlike jtis and grants, a lease is never
  // dropped at expiry: the reaper must revoke it at its peer first, then delete
  // it. `dataJson` describes the lease (role, username, ...) and must not carry a
  // credential value. Durable before returning.
  struct Lease {
    std::string leaseId;
    std::string dataJson;
    Clock::time_point expiresAt;
  };
  virtual Result<void> putLease(const Lease& lease) = 0;
  virtual Result<void> deleteLease(const std::string& leaseId) = 0;
  virtual std::vector<Lease> leases() const = 0;
};

}  // namespace sealgate
