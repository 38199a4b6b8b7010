// The common fields of every audit event (docs/AUDIT.md, schema version 1).
// The log adds schema_version, audit_index, event_id, time and sampled_out.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "appliance/server/http_server.h"
#include "appliance/telemetry/logging.h"
#include "core/interfaces/audit_sink.h"

namespace sealgate::appliance {

// type/action, correlation_id, the actor (certificate thumbprint and SPIFFE ID)
// and, for services, the tenant. Never a URI or a value.
inline nlohmann::json auditEvent(const std::string& action, const Request& r) {
  nlohmann::json e = {{"type", action},
                      {"action", action},
                      {"correlation_id", r.correlationId},
                      {"actor", {{"spiffe_id", r.identity.spiffeId}, {"cert_thumbprint", r.identity.certThumbprint}}}};
  if (!r.identity.tenant.empty()) e["tenant"] = r.identity.tenant;
  if (!r.identity.role.empty()) e["actor"]["role"] = r.identity.role;
  return e;
}

// Adds the common fields to `event` (its own fields win) and appends it to
// `sink`. Returns the 503 to answer when the log cannot take it: the caller then
// does nothing.
inline std::optional<HttpError> appendAuditEvent(AuditSink& sink, const Request& r, nlohmann::json event) {
  nlohmann::json full = auditEvent(event.value("type", std::string("event")), r);
  full.update(event);
  if (auto logged = sink.append(full.dump()); !logged) {
    logEvent(LogLevel::Error, "audit_failure", {{"error", logged.error().describe()}});
    return HttpError{ErrorCode::AuditUnavailable, "the audit log cannot record the request; nothing was done"};
  }
  return std::nullopt;
}

}  // namespace sealgate::appliance
