// One authorize batch's decisions turned into its answer (API.md,
// POST /v1/authorize): each item's allow or deny with its reason, the audit
// event's per-item results, and what the one grant covering every allowed item
// may do: per resource the allowed actions with their obligations, and the
// tightest ttl and use count the obligations ask for, never above the ceilings.
// Break-glass (docs/BREAKGLASS.md, "Use in /v1/authorize"): an item the PDP did
// not allow (it failed, gave no decision, or denied) may be let through by an
// open window; one batch, one window. No I/O: the PEP handler asks the PDP and
// the windows, signs and audits.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "appliance/server/request_bodies.h"
#include "core/interfaces/breakglass_windows.h"
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
  // The break-glass window that let at least one item through; the grant carries
  // its id (`bg`) and expires by its end.
  std::optional<OpenBreakGlassWindow> window;

  // "allow" (every item), "partial" or "deny" (none).
  std::string decision(std::size_t items) const;
};

// What the PDP is asked: the items whose URI parsed and passed the tenant guard
// (the others are denied without asking).
std::vector<DecisionRequest> decisionRequestsOf(const std::vector<AuthorizeItem>& items);

// The open window that lets `item` through although the PDP did not allow it
// (`pdpDenied` as in BreakGlassWindows::windowFor); none: the item stays denied.
// Asked only about items whose URI parsed and passed the tenant guard.
using WindowLookup = std::function<std::optional<OpenBreakGlassWindow>(const AuthorizeItem& item, bool pdpDenied)>;

// A decision missing for an asked item is a deny (PDP_NO_DECISION). With
// `windows`, an item the PDP denied or gave no decision for is allowed when a
// window covers it: the first such window becomes the batch's, and an item that
// only another window covers stays denied as it would be without break-glass.
// Such an item's obligations are exactly {"breakglass": "<window id>"}.
BatchOutcome combineDecisions(const std::vector<AuthorizeItem>& items, const std::vector<Decision>& decisions,
                              GrantCeilings ceilings, const WindowLookup& windows = {});
// The PDP failed: every item is denied (PDP_UNAVAILABLE for those it would have
// been asked about) unless a window covers it, as above. No window set on the
// outcome means no item was let through.
BatchOutcome combineWithoutPdp(const std::vector<AuthorizeItem>& items, GrantCeilings ceilings,
                               const WindowLookup& windows);

}  // namespace sealgate::appliance
