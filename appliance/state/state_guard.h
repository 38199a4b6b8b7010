// StateGuard: the daemon's StateStore. It opens the sealed state at start and,
// when that fails (tampered, rolled back, missing, TPM absent or reset), stays
// closed: every call answers the failure's code (callers deny with 503), and
// nothing is ever re-initialised silently. Re-initialising is an explicit admin
// command (POST /admin/v1/state/reinitialize), audited by the caller; it moves
// the old state folder aside for forensics and starts empty state whose grants
// cut-off rejects every grant issued before it.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "appliance/state/sealed_state_store.h"

namespace sealgate::appliance {

struct StateSettings {
  std::string dir;                  // DIR/state
  bool rollbackProtection = false;  // the TPM NV counter anchors the state
  SealedStateOptions store;
};

class StateGuard : public StateStore {
 public:
  // `tpmCounters` (the TPM's NV counter, keys/tpm_counter.h) is required when
  // settings.rollbackProtection is set, and empty when no TPM is open;
  // `setupError` is the reason the TPM or sealer could not be set up, if any.
  StateGuard(StateSettings settings, DataKeySealer& sealer, CounterFactory tpmCounters,
             std::optional<Error> setupError);

  // Opens the state; on failure the guard stays closed and returns the error.
  Result<void> open();
  // First set-up (the CLI's `state init` and dev-init): refuses existing state.
  Result<void> initialize();
  // Moves the state folder to `<dir>.replaced-<UTC time>`, initialises and opens.
  // Returns where the old folder went.
  Result<std::string> reinitialize();

  bool healthy() const;
  nlohmann::json statusJson() const;

  // The audit log's anchor in the open state (SealedStateStore::anchorAuditHead);
  // nothing while the state is closed.
  void anchorAuditHead(const merkle::TreeHead& head);
  // The anchored head; an error while the state is closed (it cannot be checked).
  Result<std::optional<merkle::TreeHead>> auditHead() const;

  Result<bool> rememberOnce(const std::string& id, Clock::time_point expiresAt) override;
  using StateStore::takeUses;
  Result<std::uint32_t> takeUses(const UseRequest& use) override;
  Result<void> revoke(const std::string& grantId, Clock::time_point expiresAt) override;
  std::vector<GrantState> grants() const override;
  Result<void> putLease(const Lease& lease) override;
  Result<void> deleteLease(const std::string& leaseId) override;
  std::vector<Lease> leases() const override;
  Result<void> putRecord(const Record& record) override;
  Result<void> deleteRecord(const std::string& kind, const std::string& id) override;
  std::vector<Record> records(const std::string& kind) const override;  // none while the state is closed
  Clock::time_point grantsIssuedFrom() const override;

 private:
  CounterFactory counters() const;
  template <typename Fn>
  auto withStore(Fn&& fn) const -> decltype(fn(std::declval<SealedStateStore&>()));

  StateSettings settings_;
  DataKeySealer& sealer_;
  CounterFactory tpmCounters_;
  std::optional<Error> setupError_;
  mutable std::shared_mutex mu_;
  std::unique_ptr<SealedStateStore> store_;
  Error failure_{state_errc::kUnavailable, "the state has not been opened"};
};

}  // namespace sealgate::appliance
