// Admin endpoints for the embedded policy and grants (admin listener):
// GET/PUT /admin/v1/policy, POST /admin/v1/policy/test, GET /admin/v1/grants,
// DELETE /admin/v1/grants/{id}.
#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "appliance/config/config.h"
#include "appliance/policy/embedded_policy.h"
#include "appliance/server/http_server.h"
#include "core/interfaces/audit_sink.h"
#include "core/interfaces/state_store.h"

namespace sealgate::appliance {

class AdminApi {
 public:
  // `onPolicyChange` runs after a new policy is in place (it flushes decision caches).
  AdminApi(const Config& config, EmbeddedPolicyDecisionPoint& pdp, StateStore& state, AuditSink& audit,
           std::function<void()> onPolicyChange)
      : config_(config), pdp_(pdp), state_(state), audit_(audit), onPolicyChange_(std::move(onPolicyChange)) {}

  HandlerResult getPolicy(Request& request);
  // Validates, audits, persists (atomically, when policy_file is set), then swaps.
  HandlerResult putPolicy(Request& request);
  HandlerResult testPolicy(Request& request);
  HandlerResult listGrants(Request& request);
  HandlerResult revokeGrant(Request& request);

 private:
  const Config& config_;
  EmbeddedPolicyDecisionPoint& pdp_;
  StateStore& state_;
  AuditSink& audit_;
  std::function<void()> onPolicyChange_;
  std::mutex putMu_;  // one policy update at a time
};

}  // namespace sealgate::appliance
