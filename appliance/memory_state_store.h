// In-memory StateStore: anti-replay and use counts for one process. Not durable:
// a restart forgets every jti and use count (the sealed, durable store is the
// sealed-state issue). Used until then, and in tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/interfaces/state_store.h"

namespace sealgate::appliance {

class MemoryStateStore : public StateStore {
 public:
  using Clock = std::chrono::system_clock;

  Result<bool> rememberOnce(const std::string& id, Clock::time_point expiresAt) override;
  Result<std::uint32_t> takeUses(const std::string& grantId, std::uint32_t count, std::uint32_t maxUses,
                                 Clock::time_point expiresAt) override;
  Result<void> revoke(const std::string& grantId, Clock::time_point expiresAt) override;

  // Remaining uses of a grant that has been used at least once (admin listing).
  struct GrantState {
    std::uint32_t remaining = 0;
    bool revoked = false;
    Clock::time_point expiresAt;
  };
  std::unordered_map<std::string, GrantState> grants() const;
  std::size_t rememberedCount() const;

 private:
  void pruneLocked(Clock::time_point now);

  mutable std::mutex mu_;
  std::unordered_map<std::string, Clock::time_point> seen_;
  std::unordered_map<std::string, GrantState> grants_;
  Clock::time_point lastPrune_{};
};

}  // namespace sealgate::appliance
