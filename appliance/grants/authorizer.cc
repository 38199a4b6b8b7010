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

BatchOutcome combineDecisions(const std::vector<AuthorizeItem>& items, const std::vector<Decision>& decisions,
                              GrantCeilings ceilings) {
  BatchOutcome out;
  out.ttlSeconds = ceilings.ttlSeconds;
  out.maxUses = ceilings.maxUses;
  for (const auto& item : items) {
    const Decision* d = item.denyReason.empty() ? decisionFor(decisions, item.index) : nullptr;
    std::string reason = item.denyReason;
    json obligations;
    if (reason.empty() && d == nullptr) {
      reason = "PDP_NO_DECISION";
    } else if (reason.empty() && !d->allow) {
      reason = d->reason.empty() ? "POLICY_DENIED" : d->reason;
    } else if (reason.empty()) {
      obligations = obligationsOf(*d);
      tighten(out, obligations);
    }
    json result = {{"index", item.index}};
    json audited = {{"index", item.index}};
    if (!item.resourceRef.empty()) result["resource_ref"] = item.resourceRef;
    if (reason.empty()) {
      result["decision"] = "allow";
      result["obligations"] = obligations;
      // The first allowed item of a (resource, action) pair sets its obligations.
      json& actions = out.obligations[item.resourceRef];
      if (!actions.contains(item.action)) actions[item.action] = obligations;
      out.allowedRefs.insert(item.resourceRef);
    } else {
      result["decision"] = "deny";
      result["reason"] = reason;
    }
    audited["decision"] = result["decision"];
    if (d != nullptr && d->externalDecisionId) audited["pdp_decision_id"] = *d->externalDecisionId;
    if (!item.resourceRef.empty()) audited["resource_ref"] = item.resourceRef;
    if (!reason.empty()) audited["reason"] = reason;
    out.auditResults.push_back(std::move(audited));
    out.results.push_back(std::move(result));
  }
  out.ttlSeconds = std::max<std::int64_t>(1, out.ttlSeconds);
  out.maxUses = std::max<std::uint32_t>(1, out.maxUses);
  return out;
}

}  // namespace sealgate::appliance
