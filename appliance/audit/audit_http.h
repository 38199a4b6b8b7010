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

}  // namespace sealgate::appliance
