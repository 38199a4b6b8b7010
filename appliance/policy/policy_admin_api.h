// The embedded policy's admin endpoints (admin listener): GET/PUT
// /admin/v1/policy, POST /admin/v1/policy/test. The HTTP face of the policy
// folder: this file and its .cc are the only ones in policy/ that use server/
// and audit/ (CONTRIBUTING.md, "Folders").
#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "appliance/policy/embedded_policy.h"
#include "appliance/server/http_server.h"
#include "core/interfaces/audit_sink.h"

namespace sealgate::appliance {

class PolicyAdminApi {
 public:
  // `policyFile`: where a new policy is saved (empty: kept in memory only).
  // `onPolicyChange` runs after a new policy is in place (it flushes decision caches).
  PolicyAdminApi(std::string policyFile, EmbeddedPolicyDecisionPoint& pdp, AuditSink& audit,
                 std::function<void()> onPolicyChange)
      : policyFile_(std::move(policyFile)), pdp_(pdp), audit_(audit), onPolicyChange_(std::move(onPolicyChange)) {}

  // Admins and auditors.
  HandlerResult getPolicy(Request& request);
  // Admins. Validates, audits, persists (atomically, when policy_file is set), then swaps.
  HandlerResult putPolicy(Request& request);
  // Admins and auditors: a dry run (no grant, no state, no audit event).
  HandlerResult testPolicy(Request& request);

 private:
  const std::string policyFile_;
  EmbeddedPolicyDecisionPoint& pdp_;
  AuditSink& audit_;
  std::function<void()> onPolicyChange_;
  std::mutex putMu_;  // one policy update at a time
};

}  // namespace sealgate::appliance
