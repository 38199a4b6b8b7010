// `sealgate status`: GET /admin/v1/status and GET /readyz through the admin
// listener, printed for a person (one line per component, its state and the
// error code of what is down) or as JSON (--json: {"ready","status","readiness"}).
#pragma once

#include <ostream>

#include "appliance/cli/admin_client.h"

namespace sealgate::appliance {

// 0 when the appliance is ready, 1 when it is not (what is down is printed),
// 2 when it cannot be asked (bad options, unreachable, refused).
int statusCommand(const AdminTls& tls, bool asJson, std::ostream& out, std::ostream& err);

}  // namespace sealgate::appliance
