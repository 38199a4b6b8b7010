// The common fields of every audit event (docs/AUDIT.md, schema version 1).
// The log adds schema_version, audit_index, event_id, time and sampled_out.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "appliance/http_server.h"

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

}  // namespace sealgate::appliance
