// Between HTTP handlers and audit events: the Actor of a request, and the 503
// a handler answers when the log cannot record what it was about to do.
#pragma once

#include "appliance/audit/audit_event.h"
#include "appliance/server/http_server.h"

namespace sealgate::appliance {

inline Actor actorOf(const Request& r) {
  return Actor{r.correlationId, r.identity.spiffeId, r.identity.certThumbprint, r.identity.tenant, r.identity.role};
}

// AUDIT_UNAVAILABLE, "nothing was done" unless the caller says more precisely
// what stayed unchanged.
inline HttpError auditUnavailable(std::string message = "the audit log cannot record the request; nothing was done") {
  return HttpError{ErrorCode::AuditUnavailable, std::move(message)};
}

// An admin's change, audited before it is made: the event gets "by" and the
// request's `?reason=` (reasonFromQuery). An error to answer when the reason is
// malformed or the log cannot record the event; nothing was done then.
inline std::optional<HttpError> auditAdminChange(AuditSink& audit, const Request& request, nlohmann::json event) {
  auto reason = reasonFromQuery(request);
  if (!reason) return HttpError{reason.error().code, reason.error().message};
  event["by"] = request.identity.spiffeId;
  if (!reason->empty()) event["reason"] = *reason;
  if (!appendAuditEvent(audit, actorOf(request), event)) return auditUnavailable();
  return std::nullopt;
}

}  // namespace sealgate::appliance
