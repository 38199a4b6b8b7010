// The sealed state's admin endpoints for grants (admin listener): GET
// /admin/v1/grants, DELETE /admin/v1/grants/{id}. The HTTP face of the state
// folder: this file and its .cc are the only ones in state/ that use server/
// and audit/ (CONTRIBUTING.md, "Folders").
#pragma once

#include <chrono>
#include <functional>

#include "appliance/server/http_server.h"
#include "core/interfaces/audit_sink.h"
#include "core/interfaces/state_store.h"

namespace sealgate::appliance {

class StateAdminApi {
 public:
  // `revocationKeepUntil`: how long a revocation made now must be remembered
  // (past the longest life a grant can have; the grants folder knows it).
  StateAdminApi(StateStore& state, AuditSink& audit, std::function<StateStore::Clock::time_point()> revocationKeepUntil)
      : state_(state), audit_(audit), revocationKeepUntil_(std::move(revocationKeepUntil)) {}

  // Admins and auditors: grants with recorded state.
  HandlerResult listGrants(Request& request);
  // Admins: audited, then recorded.
  HandlerResult revokeGrant(Request& request);

 private:
  StateStore& state_;
  AuditSink& audit_;
  std::function<StateStore::Clock::time_point()> revocationKeepUntil_;
};

}  // namespace sealgate::appliance
