#include "appliance/memory_state_store.h"

namespace sealgate::appliance {

void MemoryStateStore::pruneLocked(Clock::time_point now) {
  // Amortised: at most once a second, drop entries whose window has passed.
  if (now - lastPrune_ < std::chrono::seconds(1)) return;
  lastPrune_ = now;
  for (auto it = seen_.begin(); it != seen_.end();) it = it->second <= now ? seen_.erase(it) : std::next(it);
  for (auto it = grants_.begin(); it != grants_.end();) {
    it = it->second.expiresAt <= now ? grants_.erase(it) : std::next(it);
  }
}

Result<bool> MemoryStateStore::rememberOnce(const std::string& id, Clock::time_point expiresAt) {
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  pruneLocked(now);
  auto [it, inserted] = seen_.try_emplace(id, expiresAt);
  if (inserted) return true;
  if (it->second <= now) {  // an expired entry not yet pruned
    it->second = expiresAt;
    return true;
  }
  return false;
}

Result<std::uint32_t> MemoryStateStore::takeUses(const std::string& grantId, std::uint32_t count,
                                                 std::uint32_t maxUses, Clock::time_point expiresAt) {
  if (count == 0) return makeError("INVALID_REQUEST", "a use count must be positive");
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  pruneLocked(now);
  auto [it, inserted] = grants_.try_emplace(grantId, GrantState{grantId, maxUses, false, expiresAt});
  GrantState& g = it->second;
  if (g.revoked) return makeError("GRANT_REVOKED", "the grant has been revoked");
  if (g.remaining < count) return makeError("GRANT_EXHAUSTED", "the grant has not enough uses left");
  g.remaining -= count;
  return g.remaining;
}

Result<void> MemoryStateStore::revoke(const std::string& grantId, Clock::time_point expiresAt) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = grants_.try_emplace(grantId, GrantState{grantId, 0, true, expiresAt});
  it->second.revoked = true;
  return Ok{};
}

std::vector<StateStore::GrantState> MemoryStateStore::grants() const {
  std::lock_guard lock(mu_);
  std::vector<GrantState> out;
  for (const auto& [id, g] : grants_) out.push_back(g);
  return out;
}

Result<void> MemoryStateStore::putLease(const Lease& lease) {
  std::lock_guard lock(mu_);
  leases_[lease.leaseId] = lease;
  return Ok{};
}

Result<void> MemoryStateStore::deleteLease(const std::string& leaseId) {
  std::lock_guard lock(mu_);
  leases_.erase(leaseId);
  return Ok{};
}

std::vector<StateStore::Lease> MemoryStateStore::leases() const {
  std::lock_guard lock(mu_);
  std::vector<Lease> out;
  for (const auto& [id, l] : leases_) out.push_back(l);
  return out;
}

std::size_t MemoryStateStore::rememberedCount() const {
  std::lock_guard lock(mu_);
  return seen_.size();
}

}  // namespace sealgate::appliance
