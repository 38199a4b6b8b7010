// The appliance's one way to the process-wide egress guard (core/egress_guard.h):
// logs, HTTP responses and the audit log reach it only through egressGuard(), and
// tests protect values on the same guard through it.
#pragma once

#include "core/egress_guard.h"

namespace sealgate::appliance {

inline EgressGuard& egressGuard() { return EgressGuard::global(); }

}  // namespace sealgate::appliance
