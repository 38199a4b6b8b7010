// One authorize batch's decisions turned into its answer (API.md,
// POST /v1/authorize): each item's allow or deny with its reason, the audit
// event's per-item results, and what the one grant covering every allowed item
// may do: per resource the allowed actions with their obligations, and the
// tightest ttl and use count the obligations ask for, never above the ceilings.
// No I/O: the PEP handler asks the PDP, signs and audits.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "appliance/server/request_bodies.h"
#include "core/interfaces/decision_point.h"

namespace sealgate::appliance {

struct GrantCeilings {
  std::int64_t ttlSeconds = 0;
  std::uint32_t maxUses = 0;
};

struct BatchOutcome {
  nlohmann::json results = nlohmann::json::array();       // the caller's, one per item
  nlohmann::json auditResults = nlohmann::json::array();  // the audit event's, one per item
  std::set<std::string> allowedRefs;                      // the grant's resources
  nlohmann::json obligations = nlohmann::json::object();  // {resource_ref: {action: obligations}}
  std::int64_t ttlSeconds = 0;                            // at least 1
  std::uint32_t maxUses = 0;                              // at least 1

  // "allow" (every item), "partial" or "deny" (none).
  std::string decision(std::size_t items) const;
};

// What the PDP is asked: the items whose URI parsed and passed the tenant guard
// (the others are denied without asking).
std::vector<DecisionRequest> decisionRequestsOf(const std::vector<AuthorizeItem>& items);

// A decision missing for an asked item is a deny (PDP_NO_DECISION).
BatchOutcome combineDecisions(const std::vector<AuthorizeItem>& items, const std::vector<Decision>& decisions,
                              GrantCeilings ceilings);

}  // namespace sealgate::appliance
