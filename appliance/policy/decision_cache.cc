#include "appliance/policy/decision_cache.h"

namespace sealgate::appliance {

namespace {

std::string cacheKey(const DecisionSubject& s, const DecisionRequest& r) {
  std::string key = s.spiffeId;
  for (const std::string* part : {&r.canonicalUri, &r.action, &r.contextJson}) {
    key.push_back('\0');
    key += *part;
  }
  return key;
}

}  // namespace

CachingDecisionPoint::CachingDecisionPoint(DecisionPoint& inner, std::chrono::milliseconds negativeTtl,
                                           std::chrono::milliseconds positiveTtl, std::size_t capacity)
    : inner_(inner), negativeTtl_(negativeTtl), positiveTtl_(positiveTtl), capacity_(capacity) {}

Result<std::vector<Decision>> CachingDecisionPoint::decide(const DecisionSubject& subject,
                                                           const std::vector<DecisionRequest>& requests,
                                                           std::chrono::milliseconds timeout) {
  std::vector<Decision> out(requests.size());
  std::vector<std::size_t> missing;
  std::vector<DecisionRequest> asks;
  {
    std::lock_guard lock(mu_);
    const auto now = clock_();
    for (std::size_t i = 0; i < requests.size(); ++i) {
      auto it = entries_.find(cacheKey(subject, requests[i]));
      if (it != entries_.end() && it->second.expires > now) {
        out[i] = it->second.decision;
        out[i].index = requests[i].index;
      } else {
        missing.push_back(i);
        asks.push_back(requests[i]);
      }
    }
    health_.hits += requests.size() - asks.size();
    health_.misses += asks.size();
  }
  if (asks.empty()) return out;
  const auto started = std::chrono::steady_clock::now();
  auto decided = inner_.decide(subject, asks, timeout);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (onCall_) onCall_(seconds, decided.ok());
  std::lock_guard lock(mu_);
  ++health_.calls;
  health_.lastOk = static_cast<bool>(decided);
  health_.lastErrorCode = decided ? "" : std::string(errorCodeName(decided.error().code));
  health_.lastLatencyMs = seconds * 1000;
  health_.lastAt = std::chrono::system_clock::now();
  if (!decided) {
    ++health_.failures;
    return decided;  // failures are never cached
  }
  const auto now = clock_();
  if (entries_.size() + asks.size() > capacity_) {
    for (auto it = entries_.begin(); it != entries_.end();)
      it = it->second.expires <= now ? entries_.erase(it) : std::next(it);
    if (entries_.size() + asks.size() > capacity_) entries_.clear();
  }
  for (std::size_t k = 0; k < missing.size(); ++k) {
    const auto& req = requests[missing[k]];
    Decision d;
    d.index = req.index;
    d.reason = "PDP_NO_DECISION";
    for (const auto& got : *decided) {
      if (got.index == req.index) d = got;
    }
    out[missing[k]] = d;
    // PDP_* reasons describe the PDP's answer, not the policy: do not remember them.
    const bool cacheDeny = !d.allow && negativeTtl_.count() > 0 && d.reason.rfind("PDP_", 0) != 0;
    const bool cacheAllow = d.allow && d.cacheable && positiveTtl_.count() > 0;
    if (cacheDeny || cacheAllow) {
      entries_[cacheKey(subject, req)] = Entry{d, now + (d.allow ? positiveTtl_ : negativeTtl_)};
    }
  }
  return out;
}

CachingDecisionPoint::Health CachingDecisionPoint::health() const {
  std::lock_guard lock(mu_);
  return health_;
}

void CachingDecisionPoint::clear() {
  std::lock_guard lock(mu_);
  entries_.clear();
}

std::size_t CachingDecisionPoint::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace sealgate::appliance
