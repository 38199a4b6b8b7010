// The embedded policy's admin endpoints (admin listener): GET/PUT
// /admin/v1/policy, POST /admin/v1/policy/test and /validate, GET
// /admin/v1/policy/history[/{id}]. The HTTP face of the policy
// folder: this file and its .cc are the only ones in policy/ that use server/
// and audit/ (CONTRIBUTING.md, "Folders").
#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "appliance/policy/embedded_policy.h"
#include "appliance/policy/policy_history.h"
#include "appliance/server/http_server.h"
#include "core/interfaces/audit_sink.h"

namespace sealgate::appliance {

class PolicyAdminApi {
 public:
  // `policyFile`: where a new policy is saved (empty: kept in memory only); its
  // history goes to the folder historyDirFor(policyFile) (in memory when empty).
  // `onPolicyChange` runs after a new policy is in place (it flushes decision caches).
  // The policy `pdp` holds now is recorded as a version unless it is the newest one.
  PolicyAdminApi(std::string policyFile, EmbeddedPolicyDecisionPoint& pdp, AuditSink& audit,
                 std::function<void()> onPolicyChange);

  // "<policy_file>.history", or "" for no file.
  static std::string historyDirFor(const std::string& policyFile);

  // Admins and auditors.
  HandlerResult getPolicy(Request& request);
  // Admins. Validates, audits, records the history entry, persists (atomically,
  // when policy_file is set), then swaps. `?reason=` (≤ 500 bytes) goes into the
  // audit event and the history entry.
  HandlerResult putPolicy(Request& request);
  // Admins and auditors: a dry run (no grant, no state, no audit event).
  HandlerResult testPolicy(Request& request);
  // Admins and auditors: GET /admin/v1/policy/history?limit=N&before=V.
  HandlerResult listHistory(Request& request);
  // Admins and auditors: GET /admin/v1/policy/history/{id}, with the document.
  HandlerResult getHistoryVersion(Request& request);
  // Admins and auditors: POST /admin/v1/policy/validate {"text"}: no state, no audit.
  HandlerResult validatePolicy(Request& request);

  // SIGHUP: reads policy_file again and swaps it in when it parses, audited
  // (`policy_reload`, by "SIGHUP") and recorded as the next version when it
  // differs from the newest. A file that does not parse, or a policy that cannot
  // be audited or recorded, changes nothing and is returned as the error.
  Result<void> reloadFromFile();

 private:
  // The policy in place as a version (by "startup"), unless it is the newest.
  Result<void> recordCurrent();

  const std::string policyFile_;
  EmbeddedPolicyDecisionPoint& pdp_;
  AuditSink& audit_;
  std::function<void()> onPolicyChange_;
  PolicyHistory history_;
  std::mutex putMu_;              // one policy update at a time
  bool currentRecorded_ = false;  // under putMu_
};

}  // namespace sealgate::appliance
