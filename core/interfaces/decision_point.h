// DecisionPoint: the PDP. One call per authorize batch.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace sealgate {

struct DecisionSubject {
  std::string spiffeId;  // spiffe://tenant/service
  std::string tenant;
  std::string service;
};

struct DecisionRequest {
  std::size_t index = 0;
  std::string canonicalUri;  // never leaves the appliance except to the PDP
  std::string action;
  std::string contextJson = "{}";
};

struct Decision {
  std::size_t index = 0;
  bool allow = false;
  std::string reason;  // deny reason code, or the policy's explanation
  std::string obligationsJson = "{}";
  std::optional<std::string> externalDecisionId;
  bool cacheable = false;
};

class DecisionPoint {
 public:
  virtual ~DecisionPoint() = default;

  // Decides every item of one batch in one call, within `timeout`.
  // Contract: returns exactly one Decision per request (missing ones are denies);
  // any failure to reach a trustworthy answer is the Error PDP_UNAVAILABLE and the
  // whole batch is denied (fail closed).
  virtual Result<std::vector<Decision>> decide(const DecisionSubject& subject,
                                               const std::vector<DecisionRequest>& requests,
                                               std::chrono::milliseconds timeout) = 0;
};

}  // namespace sealgate
