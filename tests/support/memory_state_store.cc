#include "tests/support/memory_state_store.h"

#include <algorithm>

namespace sealgate::appliance {

void MemoryStateStore::pruneLocked(Clock::time_point now) {
  // Amortised: at most once a second, drop entries whose window has passed. The
  // horizon moves first (StateStore::UseRequest).
  if (now - lastPrune_ < std::chrono::seconds(1) && now >= lastPrune_) return;
  lastPrune_ = now;
  prunedThrough_ = std::max(prunedThrough_, now);
  for (auto it = seen_.begin(); it != seen_.end();) it = it->second <= now ? seen_.erase(it) : std::next(it);
  for (auto it = grants_.begin(); it != grants_.end();) {
    it = it->second.expiresAt <= now ? grants_.erase(it) : std::next(it);
  }
}

Result<bool> MemoryStateStore::rememberOnce(const std::string& id, Clock::time_point expiresAt) {
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  pruneLocked(now);
  auto it = seen_.find(id);
  if (it != seen_.end() && it->second > now) return false;
  if (expiresAt <= prunedThrough_) return false;  // it may have been seen and pruned
  seen_[id] = expiresAt;
  return true;
}

Result<std::uint32_t> MemoryStateStore::takeUses(const UseRequest& use) {
  if (use.count == 0) return makeError(ErrorCode::InvalidRequest, "a use count must be positive");
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  pruneLocked(now);
  for (const std::string& ancestor : use.ancestors) {
    auto a = grants_.find(ancestor);
    if (a != grants_.end() && a->second.revoked) {
      return makeError(state_errc::kGrantRevoked, "a grant this one was delegated from has been revoked");
    }
  }
  auto it = grants_.find(use.grantId);
  if (it == grants_.end()) {
    if (use.keepUntil <= prunedThrough_) return makeError(state_errc::kGrantExpired, "the grant has expired");
    it = grants_.emplace(use.grantId, GrantState{use.grantId, use.maxUses, false, use.keepUntil, use.binding}).first;
  }
  GrantState& g = it->second;
  if (g.revoked) return makeError(state_errc::kGrantRevoked, "the grant has been revoked");
  if (g.remaining < use.count) return makeError(state_errc::kGrantExhausted, "the grant has not enough uses left");
  g.remaining -= use.count;
  return g.remaining;
}

Result<void> MemoryStateStore::revoke(const std::string& grantId, Clock::time_point expiresAt) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = grants_.try_emplace(grantId, GrantState{grantId, 0, true, expiresAt});
  it->second.revoked = true;
  it->second.expiresAt = std::max(it->second.expiresAt, expiresAt);
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

Result<void> MemoryStateStore::putRecord(const Record& record) {
  if (!validRecordKey(record.kind, record.id)) return makeError(ErrorCode::InvalidRequest, "bad record kind or id");
  std::lock_guard lock(mu_);
  records_[{record.kind, record.id}] = record.dataJson;
  return Ok{};
}

Result<void> MemoryStateStore::deleteRecord(const std::string& kind, const std::string& id) {
  if (!validRecordKey(kind, id)) return makeError(ErrorCode::InvalidRequest, "bad record kind or id");
  std::lock_guard lock(mu_);
  records_.erase({kind, id});
  return Ok{};
}

std::vector<StateStore::Record> MemoryStateStore::records(const std::string& kind) const {
  std::lock_guard lock(mu_);
  std::vector<Record> out;
  for (auto it = records_.lower_bound({kind, ""}); it != records_.end() && it->first.first == kind; ++it) {
    out.push_back(Record{kind, it->first.second, it->second});
  }
  return out;
}

std::size_t MemoryStateStore::rememberedCount() const {
  std::lock_guard lock(mu_);
  return seen_.size();
}

}  // namespace sealgate::appliance
