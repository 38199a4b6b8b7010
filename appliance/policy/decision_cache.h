// A decision cache in front of any DecisionPoint: denies are remembered briefly
// (negative cache), allows only when the PDP marked them cacheable. Misses of a
// batch still go to the PDP in one call; a PDP failure is never cached.
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/interfaces/decision_point.h"

namespace sealgate::appliance {

class CachingDecisionPoint : public DecisionPoint {
 public:
  using Clock = std::chrono::steady_clock;
  CachingDecisionPoint(DecisionPoint& inner, std::chrono::milliseconds negativeTtl,
                       std::chrono::milliseconds positiveTtl, std::size_t capacity = 10000);

  Result<std::vector<Decision>> decide(const DecisionSubject& subject, const std::vector<DecisionRequest>& requests,
                                       std::chrono::milliseconds timeout) override;
  // Forget everything (after a policy change).
  void clear();

  // How the PDP behind the cache has been answering: the calls that reached it
  // (cache hits are not calls), the failed ones, and the last call's outcome and
  // duration (GET /admin/v1/status, "pdp").
  struct Health {
    std::uint64_t calls = 0;
    std::uint64_t failures = 0;
    std::uint64_t hits = 0;    // requests answered from the cache
    std::uint64_t misses = 0;  // requests sent to the PDP
    bool lastOk = true;
    std::string lastErrorCode;  // when !lastOk
    double lastLatencyMs = 0;
    std::chrono::system_clock::time_point lastAt;  // the epoch: no call yet
  };
  Health health() const;
  std::size_t size() const;
  void setClock(std::function<Clock::time_point()> clock) { clock_ = std::move(clock); }
  // Told after each PDP call: how long it took and whether it answered (the
  // daemon's latency histogram). Set before the cache is shared.
  void setCallObserver(std::function<void(double seconds, bool ok)> observer) { onCall_ = std::move(observer); }

 private:
  struct Entry {
    Decision decision;
    Clock::time_point expires;
  };
  DecisionPoint& inner_;
  const std::chrono::milliseconds negativeTtl_, positiveTtl_;
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  Health health_;
  std::function<Clock::time_point()> clock_ = [] { return Clock::now(); };
  std::function<void(double seconds, bool ok)> onCall_;
};

}  // namespace sealgate::appliance
