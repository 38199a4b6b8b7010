// The embedded policy decision point (the default PDP). Policy format and
// semantics: docs/POLICY.md. Default deny; a matching deny rule wins over any
// allow; matching allows combine to the tightest obligations.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/interfaces/connector.h"
#include "core/interfaces/decision_point.h"
#include "core/result.h"

namespace sealgate::appliance {

struct PolicyObligations {
  std::optional<std::uint32_t> ttlSeconds;
  std::optional<std::uint32_t> maxUses;
  bool cacheable = false;       // the PEP may reuse this allow for pdp.positive_cache_ms
  bool versionPin = false;      // the URI must name a version (?version=N)
  bool reasonRequired = false;  // the request context must carry a non-empty "reason"
  // The connectors that may use the secret in POST /v1/execute; unset: rest,
  // postgres, ldap and ssh (hmac and sign only when listed: a secret is a key
  // only when the policy says so, or a MAC of it would let a caller test guesses).
  std::optional<std::vector<std::string>> connectors;
};

// Conditions on the request beyond subject, resource and action.
struct PolicyConditions {
  std::vector<int> days;  // 0 = Sunday .. 6 = Saturday (UTC); empty = any day
  int fromMinute = 0;     // [from, to) in minutes after UTC midnight; to < from wraps midnight
  int toMinute = 24 * 60;
  std::vector<std::pair<std::string, std::vector<nlohmann::json>>> context;  // attribute -> allowed values
};

struct PolicyRule {
  std::string id;
  bool allow = false;
  std::vector<std::vector<std::string>> subjects;   // SPIFFE ID globs, split on '/'
  std::vector<std::vector<std::string>> resources;  // URI globs, split on '/' after "secret://"
  std::vector<std::string> actions;                 // "*" = any
  PolicyObligations obligations;
  PolicyConditions conditions;
  std::string reason;  // deny rules: the reason code
};

class Policy {
 public:
  // Strict: unknown keys, wrong types and bad globs are POLICY_INVALID.
  static Result<Policy> parse(std::string_view json);
  // The same; on POLICY_INVALID, `*faultPointer` (when not null) is the JSON
  // pointer (RFC 6901, e.g. "/rules/2/resources/0") of the element the error
  // names: "" for the document itself or when the text is not JSON. The error
  // and its message are those of parse(json).
  static Result<Policy> parse(std::string_view json, std::string* faultPointer);
  static Result<Policy> load(const std::string& path);
  const std::vector<PolicyRule>& rules() const { return rules_; }
  // What `tenant` may reach through `connector` (the policy's "egress" section).
  // Nothing configured: nothing allowed (an empty rule set).
  EgressRules egress(const std::string& tenant, const std::string& connector) const;
  const std::string& source() const { return source_; }

  // The decision for one item; `canonicalUri` must already be canonical.
  Decision decide(const DecisionSubject& subject, const DecisionRequest& request,
                  std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

 private:
  std::vector<PolicyRule> rules_;
  std::map<std::string, std::map<std::string, EgressRules>> egress_;  // tenant -> connector -> rules
  std::string source_;

  static Result<Policy> parseDocument(std::string_view json);
};

class EmbeddedPolicyDecisionPoint : public DecisionPoint {
 public:
  explicit EmbeddedPolicyDecisionPoint(std::shared_ptr<const Policy> policy) : policy_(std::move(policy)) {}
  Result<std::vector<Decision>> decide(const DecisionSubject& subject, const std::vector<DecisionRequest>& requests,
                                       std::chrono::milliseconds timeout) override;
  void replace(std::shared_ptr<const Policy> policy);
  std::shared_ptr<const Policy> current() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Policy> policy_;
};

// The development instance's policy (docs/POLICY.md, "The development policy").
std::string devPolicyJson();

}  // namespace sealgate::appliance
