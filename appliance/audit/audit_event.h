// The common fields of every audit event (docs/AUDIT.md, schema version 1).
// The log adds schema_version, audit_index, event_id, time and sampled_out.
// Events are built from an Actor, not from an HTTP request: the handlers take
// one from their request (audit_http.h, actorOf) and answer a failed append.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "appliance/telemetry/logging.h"
#include "core/interfaces/audit_sink.h"
#include "core/result.h"

namespace sealgate::appliance {

// Who asked, as an audit event names them.
struct Actor {
  std::string correlationId;
  std::string spiffeId;
  std::string certThumbprint;  // x5t#S256 of the client certificate
  std::string tenant;          // services
  std::string role;            // admin side
};

// type/action, correlation_id, the actor (certificate thumbprint and SPIFFE ID)
// and, for services, the tenant. Never a URI or a value.
inline nlohmann::json auditEvent(const std::string& action, const Actor& actor) {
  nlohmann::json e = {{"type", action},
                      {"action", action},
                      {"correlation_id", actor.correlationId},
                      {"actor", {{"spiffe_id", actor.spiffeId}, {"cert_thumbprint", actor.certThumbprint}}}};
  if (!actor.tenant.empty()) e["tenant"] = actor.tenant;
  if (!actor.role.empty()) e["actor"]["role"] = actor.role;
  return e;
}

// Adds the common fields to `event` (its own fields win) and appends it to
// `sink`: the event's position in the log, or the sink's error (logged). On an
// error the caller does nothing and answers 503 AUDIT_UNAVAILABLE.
inline Result<std::uint64_t> appendAuditEvent(AuditSink& sink, const Actor& actor, const nlohmann::json& event) {
  nlohmann::json full = auditEvent(event.value("type", std::string("event")), actor);
  full.update(event);
  auto logged = sink.append(full.dump());
  if (!logged) logEvent(LogLevel::Error, "audit_failure", {{"error", logged.error().describe()}});
  return logged;
}

}  // namespace sealgate::appliance
