// The admin API of key rotation (docs/API.md, "Keys"): thin handlers over
// KeyRotation.
#pragma once

#include <chrono>
#include <functional>

#include "appliance/rotation/key_rotation.h"
#include "appliance/server/http_server.h"

namespace sealgate::appliance {

class KeyRotationApi {
 public:
  KeyRotationApi(KeyRotation& rotation, AuditSink& audit);

  // GET /admin/v1/keys (admin, auditor): every version of every versioned key.
  HandlerResult inventory(Request& request);
  // POST /admin/v1/keys/rotate {"kind": "ref-hmac" | "grant" | "audit" | "tls"} [?reason=] (admin).
  HandlerResult rotate(Request& request);
  // POST /admin/v1/keys/retire {"label": "<prefix>-vN"} [?reason=] (admin).
  HandlerResult retire(Request& request);
  // POST /admin/v1/keys/correlate {"uri": "secret://..."} (admin, auditor): the
  // URI's resource_ref under every key version. Audited; the answer and the
  // event carry refs, never the URI.
  HandlerResult correlate(Request& request);

  // For tests: a fixed clock (unix seconds).
  void setClock(std::function<std::int64_t()> clock) { clock_ = std::move(clock); }

 private:
  KeyRotation& rotation_;
  AuditSink& audit_;
  std::function<std::int64_t()> clock_;
};

}  // namespace sealgate::appliance
