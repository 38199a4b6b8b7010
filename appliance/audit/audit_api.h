// Admin-listener endpoints of the audit log (API.md): read-only for every
// role. GET /admin/v1/audit/public-key, /checkpoint, /export, /entries,
// /proofs/inclusion and /proofs/consistency. No route changes the log.
#pragma once

#include "appliance/audit/audit_entries.h"
#include "appliance/audit/audit_log.h"
#include "appliance/server/http_server.h"

namespace sealgate::appliance {

// The query string of GET /admin/v1/audit/entries: type, tenant, outcome (1 to
// 256 bytes), since, until (unix seconds), limit (1 to 200), before (an index).
// Any other parameter, one given twice, or a bad value is INVALID_REQUEST with
// a message naming the parameter.
Result<EntryQuery> parseEntryQuery(const std::string& query);

class AuditApi {
 public:
  // `scanCap`: entries /entries looks at per request (audit_entries.h).
  explicit AuditApi(MerkleAuditLog& log, std::uint64_t scanCap = kEntriesScanCap) : log_(log), scanCap_(scanCap) {}

  HandlerResult publicKey(Request& request);
  HandlerResult checkpoint(Request& request);
  HandlerResult exportBundle(Request& request);
  HandlerResult entries(Request& request);
  HandlerResult inclusionProof(Request& request);
  HandlerResult consistencyProof(Request& request);

 private:
  MerkleAuditLog& log_;
  std::uint64_t scanCap_;
};

}  // namespace sealgate::appliance
