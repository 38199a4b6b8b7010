#include "appliance/grants/authorizer.h"

#include <algorithm>

#include "core/json_parse.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

const Decision* decisionFor(const std::vector<Decision>& decisions, std::size_t index) {
  auto d = std::find_if(decisions.begin(), decisions.end(), [&](const Decision& x) { return x.index == index; });
  return d == decisions.end() ? nullptr : &*d;
}

// An allow's obligations, an object (anything else the PDP sent counts as none).
json obligationsOf(const Decision& d) {
  json obligations = parseInternalJson(d.obligationsJson);
  return obligations.is_object() ? obligations : json::object();
}

// The tightest of the allowed items' obligations, never above the ceilings.
void tighten(BatchOutcome& out, const json& obligations) {
  if (obligations.contains("ttl_seconds") && obligations["ttl_seconds"].is_number_unsigned()) {
    out.ttlSeconds = std::min<std::int64_t>(out.ttlSeconds, obligations["ttl_seconds"].get<std::int64_t>());
  }
  if (obligations.contains("max_uses") && obligations["max_uses"].is_number_unsigned()) {
    out.maxUses = std::min<std::uint32_t>(out.maxUses, obligations["max_uses"].get<std::uint32_t>());
  }
}

}  // namespace

std::string BatchOutcome::decision(std::size_t items) const {
  if (allowedRefs.empty()) return "deny";
  return allowedRefs.size() == items ? "allow" : "partial";
}

std::vector<DecisionRequest> decisionRequestsOf(const std::vector<AuthorizeItem>& items) {
  std::vector<DecisionRequest> asks;
  for (const auto& item : items) {
    if (item.uri) asks.push_back(DecisionRequest{item.index, item.uri->canonical(), item.action, item.contextJson});
  }
  return asks;
}

namespace {

// One item's verdict: allowed (empty reason) with its obligations, or denied
// with its reason.
// NOLINTNEXTLINE(bugprone-exception-escape): holds an nlohmann::json (see server/http_server.h's Request)
struct Verdict {
  std::string reason;
  json obligations;
  const Decision* decision = nullptr;  // the PDP's, when it gave one
  bool windowMayAllow = false;         // the PDP did not allow an item it was asked about
  bool pdpDenied = false;              // ... because it denied it
  bool breakGlass = false;             // allowed by the batch's window
};

// What the PDP said (`decisions` null: it failed) of one item. Only an item
// whose URI parsed and passed the tenant guard may be let through by a window.
Verdict verdictOf(const AuthorizeItem& item, const std::vector<Decision>* decisions) {
  Verdict v;
  if (!item.denyReason.empty()) {
    v.reason = item.denyReason;
    return v;
  }
  v.windowMayAllow = item.uri.has_value();
  if (decisions == nullptr) {
    v.reason = "PDP_UNAVAILABLE";
    return v;
  }
  v.decision = decisionFor(*decisions, item.index);
  if (v.decision == nullptr) {
    v.reason = "PDP_NO_DECISION";
  } else if (!v.decision->allow) {
    v.reason = v.decision->reason.empty() ? "POLICY_DENIED" : v.decision->reason;
    v.pdpDenied = true;
  } else {
    v.windowMayAllow = false;
    v.obligations = obligationsOf(*v.decision);
  }
  return v;
}

// One grant, one window: the first window that lets an item through is the
// batch's; an item only another window covers stays denied.
void applyBreakGlass(BatchOutcome& out, const AuthorizeItem& item, Verdict& v, const WindowLookup& windows) {
  if (!v.windowMayAllow || !windows) return;
  auto window = windows(item, v.pdpDenied);
  if (!window || (out.window && out.window->id != window->id)) return;
  if (!out.window) out.window = *window;
  v.reason.clear();
  v.obligations = json{{"breakglass", window->id}};
  v.breakGlass = true;
}

void record(BatchOutcome& out, const AuthorizeItem& item, const Verdict& v) {
  json result = {{"index", item.index}};
  json audited = {{"index", item.index}};
  if (!item.resourceRef.empty()) result["resource_ref"] = item.resourceRef;
  if (v.reason.empty()) {
    tighten(out, v.obligations);
    result["decision"] = "allow";
    result["obligations"] = v.obligations;
    // The first allowed item of a (resource, action) pair sets its obligations.
    json& actions = out.obligations[item.resourceRef];
    if (!actions.contains(item.action)) actions[item.action] = v.obligations;
    out.allowedRefs.insert(item.resourceRef);
  } else {
    result["decision"] = "deny";
    result["reason"] = v.reason;
  }
  audited["decision"] = result["decision"];
  if (v.decision != nullptr && v.decision->externalDecisionId) {
    audited["pdp_decision_id"] = *v.decision->externalDecisionId;
  }
  if (!item.resourceRef.empty()) audited["resource_ref"] = item.resourceRef;
  if (!v.reason.empty()) audited["reason"] = v.reason;
  if (v.breakGlass) audited["breakglass"] = out.window->id;
  out.auditResults.push_back(std::move(audited));
  out.results.push_back(std::move(result));
}

BatchOutcome combine(const std::vector<AuthorizeItem>& items, const std::vector<Decision>* decisions,
                     GrantCeilings ceilings, const WindowLookup& windows) {
  BatchOutcome out;
  out.ttlSeconds = ceilings.ttlSeconds;
  out.maxUses = ceilings.maxUses;
  for (const auto& item : items) {
    Verdict v = verdictOf(item, decisions);
    applyBreakGlass(out, item, v, windows);
    record(out, item, v);
  }
  out.ttlSeconds = std::max<std::int64_t>(1, out.ttlSeconds);
  out.maxUses = std::max<std::uint32_t>(1, out.maxUses);
  return out;
}

}  // namespace

BatchOutcome combineDecisions(const std::vector<AuthorizeItem>& items, const std::vector<Decision>& decisions,
                              GrantCeilings ceilings, const WindowLookup& windows) {
  return combine(items, &decisions, ceilings, windows);
}

BatchOutcome combineWithoutPdp(const std::vector<AuthorizeItem>& items, GrantCeilings ceilings,
                               const WindowLookup& windows) {
  return combine(items, nullptr, ceilings, windows);
}

}  // namespace sealgate::appliance
