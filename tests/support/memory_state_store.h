// In-memory StateStore: anti-replay, use counts, leases and records for one process. Not
// durable: a restart forgets everything. For tests and tools only; the daemon
// uses the sealed journal (sealed_state_store.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/interfaces/state_store.h"

namespace sealgate::appliance {

class MemoryStateStore : public StateStore {
 public:
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
  std::vector<Record> records(const std::string& kind) const override;

  std::size_t rememberedCount() const;

 private:
  void pruneLocked(Clock::time_point now);

  mutable std::mutex mu_;
  std::unordered_map<std::string, Clock::time_point> seen_;
  std::unordered_map<std::string, GrantState> grants_;
  std::map<std::string, Lease> leases_;
  std::map<std::pair<std::string, std::string>, std::string> records_;  // (kind, id) -> data
  Clock::time_point lastPrune_{};
  Clock::time_point prunedThrough_{};  // the pruning horizon (StateStore::UseRequest)
};

}  // namespace sealgate::appliance
