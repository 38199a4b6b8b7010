// The appliance's one way to the egress guard of the request being served on
// this thread (core/egress_guard.h, EgressScope): logs, HTTP responses and the
// audit log reach it only through egressGuard(). The HTTP server opens one
// EgressScope per request, around the handler, the response and its log line;
// /v1/execute makes its slot values live in it. Outside any request (a
// background thread) nothing is live.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/egress_guard.h"

namespace sealgate::appliance {

inline const EgressGuard& egressGuard() { return EgressScope::currentGuard(); }

// What the guard withheld: counted process-wide for GET /metrics
// (sealgate_egress_blocked_total{what}).
enum class EgressBlocked { LogLine, Response, AuditEvent, ConnectorOutput };
void countEgressBlock(EgressBlocked what);
// Each kind's name ("log_line", "response", "audit_event", "connector_output") and count.
std::vector<std::pair<const char*, std::uint64_t>> egressBlockCounts();

}  // namespace sealgate::appliance
