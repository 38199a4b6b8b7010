// StateStore: anti-replay, use-count and lease truth. Implementations: in-memory
// (tests), the sealed local journal (default, appliance/state/sealed_state_store.h),
// etcd (cluster).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace sealgate {

// Error codes every StateStore uses. Callers answer a failure with
// stateFailureCode() (503, fail closed) and the grant refusals as they are.
namespace state_errc {
inline constexpr ErrorCode kUnavailable = ErrorCode::StateUnavailable;   // cannot make a change durable (I/O, timeout)
inline constexpr ErrorCode kTampered = ErrorCode::StateTampered;         // authentication of stored state failed
inline constexpr ErrorCode kRollback = ErrorCode::StateRollback;         // stored state is older than its anchor
inline constexpr ErrorCode kMissing = ErrorCode::StateMissing;           // no state where state must be
inline constexpr ErrorCode kFull = ErrorCode::StateFull;                 // the live-entry cap is reached
inline constexpr ErrorCode kTpmUnavailable = ErrorCode::TpmUnavailable;  // rollback protection set, no TPM open
// The grant refusals (403 for the caller, never a state failure).
inline constexpr ErrorCode kGrantExhausted = ErrorCode::GrantExhausted;  // fewer uses remain than asked
inline constexpr ErrorCode kGrantRevoked = ErrorCode::GrantRevoked;      // the grant or an ancestor is revoked
inline constexpr ErrorCode kGrantExpired = ErrorCode::GrantExpired;      // unknown and past the pruning horizon
}  // namespace state_errc

// The boundary between a StateStore failure and the API: the code an HTTP answer
// carries (503) when the store cannot answer. Its own STATE_* codes and the TPM
// codes of API.md's table stand; anything else that reached the store (an HSM or
// data-key error at open, another TPM code) is STATE_UNAVAILABLE, its cause in the
// log and in /readyz. The grant refusals are not failures: check them first.
constexpr ErrorCode stateFailureCode(ErrorCode code) {
  switch (code) {
    case ErrorCode::StateUnavailable:
    case ErrorCode::StateTampered:
    case ErrorCode::StateFormatUnsupported:
    case ErrorCode::StateRollback:
    case ErrorCode::StateMissing:
    case ErrorCode::StateFull:
    case ErrorCode::TpmUnavailable:
    case ErrorCode::TpmBlobRejected:
    case ErrorCode::TpmCounterMissing:
    case ErrorCode::TpmPolicyMismatch:
    case ErrorCode::TpmError:
      return code;
    default:
      return ErrorCode::StateUnavailable;
  }
}

// The state's refusals of a grant (not failures of the state): exhausted, revoked
// (itself or an ancestor), unknown past the pruning horizon.
constexpr bool isGrantRefusal(ErrorCode code) {
  return code == ErrorCode::GrantExhausted || code == ErrorCode::GrantRevoked || code == ErrorCode::GrantExpired;
}

class StateStore {
 public:
  using Clock = std::chrono::system_clock;
  virtual ~StateStore() = default;

  // Records `id` (a DPoP or grant jti) as seen until `expiresAt`.
  // Contract: atomic and durable before returning; returns false when `id` was
  // already recorded and has not expired (a replay), and when `expiresAt` is not
  // after the pruning horizon (the store can no longer tell). Any failure to make the
  // record durable is an Error: callers fail closed.
  virtual Result<bool> rememberOnce(const std::string& id, Clock::time_point expiresAt) = 0;

  // One spend of a grant's uses.
  //
  // Lifetime rule (docs/STATE.md, "Grant state lifetime"): the state about a grant
  // must outlive every instant at which the grant can still verify, clock leeway
  // included; callers pass that instant as `keepUntil`. A grant the state does not
  // know is refused (GRANT_EXPIRED) when `keepUntil` is not after the store's
  // pruning horizon: the latest instant up to which entries may have been dropped,
  // which only ever moves forward (it survives restarts and compaction). So no
  // order of pruning, expiry, restarts or clock steps can hand a grant its uses
  // again.
  // How a grant is bound to its holder (its `cnf`), recorded with its uses for the
  // admin listing. Unknown: a grant first recorded by a revocation, or before the
  // binding was recorded.
  enum class GrantBinding : std::uint8_t { Unknown = 0, Mtls = 1, Dpop = 2 };

  struct UseRequest {
    std::string grantId;
    std::uint32_t count = 1;      // uses taken at once, all or nothing
    std::uint32_t maxUses = 1;    // the grant's uses when it is first seen
    Clock::time_point keepUntil;  // see the lifetime rule
    // Delegation ancestry, root first: when any ancestor is revoked, the use is
    // refused with GRANT_REVOKED.
    std::vector<std::string> ancestors;
    GrantBinding binding = GrantBinding::Unknown;  // recorded on first use
  };

  // Takes `use.count` uses of `use.grantId`, created with `use.maxUses` on first
  // use. Contract: linearizable per grant (and against revocation of its
  // ancestors); returns the remaining uses after taking them, or the Error
  // GRANT_EXHAUSTED when fewer remain, GRANT_REVOKED when the grant or an ancestor
  // is revoked, GRANT_EXPIRED when it is unknown and past the pruning horizon.
  // Durable before returning.
  virtual Result<std::uint32_t> takeUses(const UseRequest& use) = 0;

  // Shorthands of takeUses without ancestry.
  Result<std::uint32_t> takeUse(const std::string& grantId, std::uint32_t maxUses, Clock::time_point keepUntil) {
    return takeUses(UseRequest{grantId, 1, maxUses, keepUntil, {}});
  }
  Result<std::uint32_t> takeUses(const std::string& grantId, std::uint32_t count, std::uint32_t maxUses,
                                 Clock::time_point keepUntil) {
    return takeUses(UseRequest{grantId, count, maxUses, keepUntil, {}});
  }

  // Marks a grant revoked: later takeUse calls fail with GRANT_REVOKED. Durable.
  virtual Result<void> revoke(const std::string& grantId, Clock::time_point expiresAt) = 0;

  // Grants that have been used or revoked and have not expired (admin listing).
  struct GrantState {
    std::string grantId;
    std::uint32_t remaining = 0;
    bool revoked = false;
    Clock::time_point expiresAt;
    GrantBinding binding = GrantBinding::Unknown;
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

  // Small records of the features above the store (break-glass approvers and
  // requests, ...), by kind and id. Like leases, never dropped at expiry: their
  // owner deletes them. `dataJson` must not carry a secret value. A put replaces
  // the record of that kind and id in one durable write before returning, so an
  // owner that keeps a whole state machine in one record moves it atomically.
  struct Record {
    std::string kind;  // 1..64 bytes
    std::string id;    // 1..1024 bytes
    std::string dataJson;
  };
  virtual Result<void> putRecord(const Record& record) = 0;
  virtual Result<void> deleteRecord(const std::string& kind, const std::string& id) = 0;
  virtual std::vector<Record> records(const std::string& kind) const = 0;
};

// The bounds putRecord enforces (INVALID_REQUEST beyond them), one place for every store.
inline bool validRecordKey(const std::string& kind, const std::string& id) {
  return !kind.empty() && kind.size() <= 64 && !id.empty() && id.size() <= 1024;
}

}  // namespace sealgate
