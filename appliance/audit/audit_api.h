// Admin-listener endpoints of the audit log (API.md): read-only for every
// role. GET /admin/v1/audit/public-key, /checkpoint, /export,
// /proofs/inclusion and /proofs/consistency. No route changes the log.
#pragma once

#include "appliance/audit/audit_log.h"
#include "appliance/server/http_server.h"

namespace sealgate::appliance {

class AuditApi {
 public:
  explicit AuditApi(MerkleAuditLog& log) : log_(log) {}

  HandlerResult publicKey(Request& request);
  HandlerResult checkpoint(Request& request);
  HandlerResult exportBundle(Request& request);
  HandlerResult inclusionProof(Request& request);
  HandlerResult consistencyProof(Request& request);

 private:
  MerkleAuditLog& log_;
};

}  // namespace sealgate::appliance
