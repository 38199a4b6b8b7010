// The appliance's one way to the egress guard of the request being served on
// this thread (core/egress_guard.h, EgressScope): logs, HTTP responses and the
// audit log reach it only through egressGuard(). The HTTP server opens one
// EgressScope per request, around the handler, the response and its log line;
// /v1/execute makes its slot values live in it. Outside any request (a
// background thread) nothing is live.
#pragma once

#include "core/egress_guard.h"

namespace sealgate::appliance {

inline const EgressGuard& egressGuard() { return EgressScope::currentGuard(); }

}  // namespace sealgate::appliance
