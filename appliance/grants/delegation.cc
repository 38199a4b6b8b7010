#include "appliance/grants/delegation.h"

#include <algorithm>

#include "appliance/server/identity.h"
#include "core/encoding.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxActions = 16;

bool wellTyped(const json& b) {
  return b["grant"].is_string() && b["to"].is_string() && (!b.contains("jkt") || b["jkt"].is_string()) &&
         (!b.contains("max_uses") || b["max_uses"].is_number_unsigned()) &&
         (!b.contains("ttl_seconds") || b["ttl_seconds"].is_number_unsigned()) &&
         (!b.contains("resources") || b["resources"].is_array()) &&
         (!b.contains("actions") ||
          (b["actions"].is_array() && !b["actions"].empty() && b["actions"].size() <= kMaxActions));
}

Result<std::vector<std::string>> nonEmptyStrings(const json& array, const char* refusal) {
  std::vector<std::string> out;
  for (const auto& v : array) {
    if (!v.is_string() || v.get<std::string>().empty()) return makeError(ErrorCode::InvalidRequest, refusal);
    out.push_back(v.get<std::string>());
  }
  return out;
}

// The child's place in the chain: one per actor in the parent's act chain, plus one.
std::size_t depthOfChildOf(const GrantClaims& parent) {
  std::size_t depth = 1;
  for (const json* a = &parent.act; a != nullptr && a->is_object(); a = a->contains("act") ? &a->at("act") : nullptr) {
    ++depth;
  }
  return depth;
}

Result<std::vector<std::string>> narrowedResources(const GrantClaims& parent, const DelegationAsk& ask) {
  if (!ask.resources) return parent.res;
  std::vector<std::string> res;
  for (const auto& r : *ask.resources) {
    if (std::find(parent.res.begin(), parent.res.end(), r) == parent.res.end()) {
      return makeError(ErrorCode::ScopeWidened, "a resource is not covered by the parent grant");
    }
    if (std::find(res.begin(), res.end(), r) == res.end()) res.push_back(r);
  }
  if (res.empty()) return makeError(ErrorCode::InvalidRequest, "'resources' must not be empty");
  return res;
}

// Actions only narrow: the child gets the parent's actions on each resource, or
// the ones asked for, each of which the parent must allow there.
Result<json> narrowedObligations(const GrantClaims& parent, const std::vector<std::string>& res,
                                 const DelegationAsk& ask) {
  json childObl = json::object();
  for (const auto& r : res) {
    json actions = parent.obl.contains(r) ? parent.obl[r] : json();
    if (ask.actions) {
      actions = json::object();
      for (const auto& a : *ask.actions) {
        const json* obligations = parent.allowed(r, a);
        if (!obligations) return makeError(ErrorCode::ScopeWidened, "an action the parent grant does not allow");
        actions[a] = *obligations;
      }
    }
    childObl[r] = std::move(actions);
  }
  return childObl;
}

}  // namespace

Result<DelegationAsk> parseDelegationAsk(const json& b) {
  if (!wellTyped(b)) {
    return makeError(ErrorCode::InvalidRequest,
                     "grant and to are strings, jkt a string, max_uses and ttl_seconds positive integers, resources "
                     "an array of resource_refs, actions an array of 1-16 action names");
  }
  DelegationAsk ask;
  ask.grant = b["grant"].get<std::string>();
  ask.to = b["to"].get<std::string>();
  if (b.contains("jkt")) ask.jkt = b["jkt"].get<std::string>();
  if (b.contains("max_uses")) ask.maxUses = b["max_uses"].get<std::uint32_t>();
  if (b.contains("ttl_seconds")) ask.ttlSeconds = b["ttl_seconds"].get<std::int64_t>();
  if (b.contains("actions")) {
    SEALGATE_ASSIGN_OR_RETURN(auto actions, nonEmptyStrings(b["actions"], "'actions' holds action names"));
    ask.actions = std::move(actions);
  }
  if (b.contains("resources")) {
    SEALGATE_ASSIGN_OR_RETURN(auto resources, nonEmptyStrings(b["resources"], "'resources' holds resource_refs"));
    ask.resources = std::move(resources);
  }
  return ask;
}

Result<ChildGrantPlan> planChildGrant(const GrantClaims& parent, const DelegationAsk& ask, std::int64_t now,
                                      std::size_t maxDepth) {
  ChildGrantPlan plan;
  auto to = parseSpiffeId(ask.to);
  if (!to || to->kind != IdentityKind::Service)
    return makeError(ErrorCode::InvalidRequest, "'to' must be a service SPIFFE ID");
  auto subject = parseSpiffeId(parent.sub);
  if (!subject || to->tenant != subject->tenant) {
    return makeError(ErrorCode::ScopeWidened, "a grant cannot be delegated to another tenant");
  }
  plan.to = to->spiffeId;
  if (ask.jkt) {
    auto raw = decodeBase64UrlNoPad(*ask.jkt);
    if (!raw || raw->size() != 32)
      return makeError(ErrorCode::InvalidRequest, "'jkt' must be an RFC 7638 SHA-256 thumbprint");
    plan.jkt = ask.jkt;
  }
  plan.depth = depthOfChildOf(parent);
  if (plan.depth > maxDepth) {
    return makeError(ErrorCode::DelegationDepth,
                     "the delegation chain would exceed " + std::to_string(maxDepth) + " hops");
  }
  SEALGATE_ASSIGN_OR_RETURN(plan.res, narrowedResources(parent, ask));
  plan.exp = parent.exp;
  if (ask.ttlSeconds) {
    if (*ask.ttlSeconds == 0) return makeError(ErrorCode::InvalidRequest, "'ttl_seconds' must be positive");
    if (now + *ask.ttlSeconds > parent.exp)
      return makeError(ErrorCode::ScopeWidened, "the child would outlive the parent grant");
    plan.exp = now + *ask.ttlSeconds;
  }
  plan.uses = ask.maxUses.value_or(1);
  if (plan.uses == 0 || plan.uses > parent.maxUses)
    return makeError(ErrorCode::ScopeWidened, "more uses than the parent grant has");
  SEALGATE_ASSIGN_OR_RETURN(plan.obl, narrowedObligations(parent, plan.res, ask));
  return plan;
}

GrantClaims childClaims(const GrantClaims& parent, const ChildGrantPlan& plan, std::string jti, std::int64_t now) {
  GrantClaims child;
  child.iss = parent.iss;
  child.aud = parent.aud;
  child.sub = parent.sub;
  child.act = json{{"sub", plan.to}};  // RFC 8693: the current actor outermost
  if (parent.act.is_object()) child.act["act"] = parent.act;
  child.jti = std::move(jti);
  child.decisionId = parent.decisionId;
  child.iat = child.nbf = now;
  child.exp = plan.exp;
  child.res = plan.res;
  child.maxUses = plan.uses;
  child.obl = plan.obl;
  child.anc = parent.anc;
  child.anc.push_back(parent.jti);
  child.cnfJkt = plan.jkt;
  child.bg = parent.bg;  // a grant issued in a break-glass window stays tied to it
  return child;
}

}  // namespace sealgate::appliance
