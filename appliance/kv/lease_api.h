// Dynamic database credentials and their leases on the admin listener
// (docs/API.md, docs/STANDARDS.md "Leases"):
//   GET /v1/<mount>/creds/<role>                       a new credential (Vault shape)
//   PUT|POST /v1/sys/leases/{lookup,renew,revoke}      Vault's lease endpoints
//   PUT|POST /v1/sys/leases/revoke-prefix/<prefix>
//   GET /admin/v1/leases, PUT /admin/v1/leases/{renew,revoke},
//   PUT /admin/v1/leases/revoke-prefix/<prefix>        the same in API.md's shape
// A credential is a reveal: it needs the admin role and the policy's `reveal`
// permission on secret://<tenant>/<mount>/<role>, and is audited before the
// answer. Renew and revoke need the admin role; lookup and listing also suit
// auditors. Every change is audited before it is made. The credentials come
// from a LeaseBackend (PostgreSQL's in the daemon, an in-memory one in tests).
#pragma once

#include <string>

#include "appliance/policy/embedded_policy.h"
#include "appliance/server/http_server.h"
#include "core/interfaces/audit_sink.h"
#include "core/interfaces/lease_backend.h"
#include "core/resource_ref.h"

namespace sealgate::appliance {

class LeaseApi {
 public:
  // `db` may be null (no database mounts configured).
  LeaseApi(LeaseBackend* db, std::string defaultNamespace, ResourceRefs& refs, EmbeddedPolicyDecisionPoint& pdp,
           AuditSink& audit)
      : db_(db), defaultNamespace_(std::move(defaultNamespace)), refs_(refs), pdp_(pdp), audit_(audit) {}

  // True when `rest` (what "/v1/**" matched) is "<mount>/creds/<role>".
  static bool isCredsPath(const std::string& rest);
  HandlerResult creds(Request& request);

  // `vault`: Vault's paths and shapes; else API.md's admin shapes.
  HandlerResult lookup(Request& request);
  HandlerResult renew(Request& request, bool vault);
  HandlerResult revoke(Request& request, bool vault);
  HandlerResult revokePrefix(Request& request, bool vault);
  HandlerResult list(Request& request);

 private:
  std::optional<HttpError> audit(const Request& request, nlohmann::json event);
  HttpError leaseError(const Error& e) const;

  LeaseBackend* db_;
  std::string defaultNamespace_;
  ResourceRefs& refs_;
  EmbeddedPolicyDecisionPoint& pdp_;
  AuditSink& audit_;
};

}  // namespace sealgate::appliance
