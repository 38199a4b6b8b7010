#include "appliance/embedded_policy.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/secret_uri.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

Error policyError(const std::string& message) { return makeError("POLICY_INVALID", message); }

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto slash = s.find('/', start);
    out.emplace_back(s.substr(start, slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

// `*` matches one segment, `**` any number (including none); others literally.
bool globMatch(const std::vector<std::string>& glob, std::size_t gi, const std::vector<std::string>& segs,
               std::size_t si) {
  if (gi == glob.size()) return si == segs.size();
  if (glob[gi] == "**") {
    for (std::size_t k = si; k <= segs.size(); ++k) {
      if (globMatch(glob, gi + 1, segs, k)) return true;
    }
    return false;
  }
  if (si == segs.size()) return false;
  if (glob[gi] != "*" && glob[gi] != segs[si]) return false;
  return globMatch(glob, gi + 1, segs, si + 1);
}

bool isReasonCode(const std::string& s) {
  return !s.empty() && s.size() <= 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; });
}

Result<std::vector<std::string>> stringList(const json& rule, const char* key, const std::string& where) {
  if (!rule.contains(key) || !rule[key].is_array() || rule[key].empty() || rule[key].size() > 256) {
    return policyError(where + "." + key + " must be a non-empty array of strings");
  }
  std::vector<std::string> out;
  for (const auto& v : rule[key]) {
    if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>().size() > 1024) {
      return policyError(where + "." + key + " must hold non-empty strings");
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<std::vector<std::string>> resourceGlob(const std::string& glob, const std::string& where) {
  constexpr std::string_view kScheme = "secret://";
  if (glob.compare(0, kScheme.size(), kScheme) != 0) return policyError(where + ": resource globs start with secret://");
  if (glob.find_first_of("?#%") != std::string::npos) {
    return policyError(where + ": resource globs match URIs without version, field or escapes");
  }
  auto segs = split(std::string_view(glob).substr(kScheme.size()));
  if (segs.size() < 2) return policyError(where + ": a resource glob needs a tenant and a mount");
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const auto& s = segs[i];
    if (s.empty()) return policyError(where + ": empty segment in a resource glob");
    if (s == "**" && i < 2) return policyError(where + ": ** may not stand for the tenant or the mount");
    if (s != "*" && s != "**" && s.find('*') != std::string::npos) {
      return policyError(where + ": * and ** must be whole segments");
    }
  }
  return segs;
}

}  // namespace

Result<Policy> Policy::parse(std::string_view text) {
  json doc = json::parse(text.begin(), text.end(), nullptr, false, /*ignore_comments=*/true);
  if (doc.is_discarded() || !doc.is_object()) return policyError("the policy is not a JSON object");
  for (const auto& [k, v] : doc.items()) {
    if (k != "version" && k != "rules") return policyError("unknown key policy." + k.substr(0, 64));
  }
  if (!doc.contains("version") || doc["version"] != 1) return policyError("policy.version must be 1");
  if (!doc.contains("rules") || !doc["rules"].is_array() || doc["rules"].size() > 10000) {
    return policyError("policy.rules must be an array");
  }
  Policy policy;
  for (std::size_t i = 0; i < doc["rules"].size(); ++i) {
    const json& r = doc["rules"][i];
    const std::string where = "policy.rules[" + std::to_string(i) + "]";
    if (!r.is_object()) return policyError(where + " must be an object");
    for (const auto& [k, v] : r.items()) {
      static const std::vector<std::string> kKeys{"id", "effect", "subjects", "resources", "actions", "obligations", "reason"};
      if (std::find(kKeys.begin(), kKeys.end(), k) == kKeys.end()) return policyError("unknown key " + where + "." + k.substr(0, 64));
    }
    PolicyRule rule;
    if (!r.contains("id") || !r["id"].is_string() || r["id"].get<std::string>().empty()) return policyError(where + ".id is required");
    rule.id = r["id"];
    if (!r.contains("effect") || !r["effect"].is_string() || (r["effect"] != "allow" && r["effect"] != "deny")) {
      return policyError(where + ".effect must be allow or deny");
    }
    rule.allow = r["effect"] == "allow";
    auto subjects = stringList(r, "subjects", where);
    if (!subjects) return std::move(subjects).takeError();
    for (const auto& s : *subjects) {
      if (s.compare(0, 9, "spiffe://") != 0) return policyError(where + ".subjects: SPIFFE ID globs start with spiffe://");
      rule.subjects.push_back(split(std::string_view(s).substr(9)));
    }
    auto resources = stringList(r, "resources", where);
    if (!resources) return std::move(resources).takeError();
    for (const auto& g : *resources) {
      auto segs = resourceGlob(g, where + ".resources");
      if (!segs) return std::move(segs).takeError();
      rule.resources.push_back(std::move(*segs));
    }
    auto actions = stringList(r, "actions", where);
    if (!actions) return std::move(actions).takeError();
    rule.actions = std::move(*actions);
    if (r.contains("obligations")) {
      const json& o = r["obligations"];
      if (!o.is_object()) return policyError(where + ".obligations must be an object");
      for (const auto& [k, v] : o.items()) {
        if (k == "cacheable") {
          if (!v.is_boolean()) return policyError(where + ".obligations.cacheable must be true or false");
          continue;
        }
        if (k != "ttl_seconds" && k != "max_uses") return policyError("unknown key " + where + ".obligations." + k.substr(0, 64));
        if (!v.is_number_unsigned() || v.get<std::uint64_t>() == 0 ||
            v.get<std::uint64_t>() > (k == "ttl_seconds" ? 86400u : 1000000u)) {
          return policyError(where + ".obligations." + k + " is out of range");
        }
      }
      if (o.contains("ttl_seconds")) rule.obligations.ttlSeconds = o["ttl_seconds"].get<std::uint32_t>();
      if (o.contains("max_uses")) rule.obligations.maxUses = o["max_uses"].get<std::uint32_t>();
      if (o.contains("cacheable")) rule.obligations.cacheable = o["cacheable"].get<bool>();
      if (!rule.allow) return policyError(where + ": deny rules carry no obligations");
    }
    if (r.contains("reason")) {
      if (!r["reason"].is_string() || !isReasonCode(r["reason"])) return policyError(where + ".reason must be an UPPER_SNAKE code");
      rule.reason = r["reason"];
    }
    if (!rule.allow && rule.reason.empty()) rule.reason = "POLICY_DENIED";
    policy.rules_.push_back(std::move(rule));
  }
  policy.source_ = std::string(text);
  return policy;
}

Result<Policy> Policy::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return policyError("cannot read the policy file " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse(text);
}

Decision Policy::decide(const DecisionSubject& subject, const DecisionRequest& request) const {
  Decision d;
  d.index = request.index;
  auto uri = SecretUri::parse(request.canonicalUri);
  if (!uri) {
    d.reason = uri.error().code;
    return d;
  }
  const std::string base = uri->canonicalWithoutVersionAndField();
  const auto resourceSegs = split(std::string_view(base).substr(9));
  if (subject.spiffeId.compare(0, 9, "spiffe://") != 0) {
    d.reason = "POLICY_NO_MATCH";
    return d;
  }
  const auto subjectSegs = split(std::string_view(subject.spiffeId).substr(9));
  std::optional<std::uint32_t> ttl, maxUses;
  bool cacheable = true;  // only if every matching allow says so
  std::vector<std::string> allowedBy;
  for (const auto& rule : rules_) {
    const bool actionOk = std::any_of(rule.actions.begin(), rule.actions.end(),
                                      [&](const std::string& a) { return a == "*" || a == request.action; });
    if (!actionOk) continue;
    const bool subjectOk = std::any_of(rule.subjects.begin(), rule.subjects.end(),
                                       [&](const auto& g) { return globMatch(g, 0, subjectSegs, 0); });
    if (!subjectOk) continue;
    const bool resourceOk = std::any_of(rule.resources.begin(), rule.resources.end(),
                                        [&](const auto& g) { return globMatch(g, 0, resourceSegs, 0); });
    if (!resourceOk) continue;
    if (!rule.allow) {  // deny overrides
      d.allow = false;
      d.reason = rule.reason;
      return d;
    }
    allowedBy.push_back(rule.id);
    cacheable = cacheable && rule.obligations.cacheable;
    if (rule.obligations.ttlSeconds) ttl = std::min(ttl.value_or(UINT32_MAX), *rule.obligations.ttlSeconds);
    if (rule.obligations.maxUses) maxUses = std::min(maxUses.value_or(UINT32_MAX), *rule.obligations.maxUses);
  }
  if (allowedBy.empty()) {
    d.reason = "POLICY_NO_MATCH";
    return d;
  }
  d.allow = true;
  d.cacheable = cacheable;
  d.reason = allowedBy.front();
  json obl = json::object();
  if (ttl) obl["ttl_seconds"] = *ttl;
  if (maxUses) obl["max_uses"] = *maxUses;
  d.obligationsJson = obl.dump();
  return d;
}

Result<std::vector<Decision>> EmbeddedPolicyDecisionPoint::decide(const DecisionSubject& subject,
                                                                   const std::vector<DecisionRequest>& requests,
                                                                   std::chrono::milliseconds) {
  auto policy = current();
  std::vector<Decision> out;
  out.reserve(requests.size());
  for (const auto& r : requests) out.push_back(policy->decide(subject, r));
  return out;
}

void EmbeddedPolicyDecisionPoint::replace(std::shared_ptr<const Policy> policy) {
  std::lock_guard lock(mu_);
  policy_ = std::move(policy);
}

std::shared_ptr<const Policy> EmbeddedPolicyDecisionPoint::current() const {
  std::lock_guard lock(mu_);
  return policy_;
}

std::string devPolicyJson() {
  return R"({
  // Development policy written by `sealgate dev-init` (docs/POLICY.md).
  "version": 1,
  "rules": [
    {
      "id": "acme-payments-app",
      "effect": "allow",
      "subjects": ["spiffe://acme/payments"],
      "resources": ["secret://acme/kv/app/*"],
      "actions": ["use"],
      "obligations": {"ttl_seconds": 300, "max_uses": 5}
    },
    {
      "id": "globex-billing-kv",
      "effect": "allow",
      "subjects": ["spiffe://globex/billing"],
      "resources": ["secret://globex/kv/*"],
      "actions": ["use"],
      "obligations": {"ttl_seconds": 300, "max_uses": 5}
    }
  ]
}
)";
}

}  // namespace sealgate::appliance
