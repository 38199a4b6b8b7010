// The Vault-compatible KV v2 API of the embedded store, on the admin listener
// (docs/API.md, docs/STANDARDS.md "KV v2"): /v1/<mount>/{data,metadata,delete,undelete,
// destroy}/<path> and /v1/<mount>/config, with tenants as Vault namespaces
// (X-Vault-Namespace; the configured default without it).
//
// Access: writes need the admin role; reading a value needs the admin role AND
// the policy's `reveal` permission on the secret, and is audited before the
// answer. Metadata, lists and mount config are readable by admins and auditors.
// Every change is audited before it is made (no audit, no change).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "appliance/policy/embedded_policy.h"
#include "appliance/server/http_server.h"
#include "core/interfaces/audit_sink.h"
#include "core/resource_ref.h"
#include "providers/kv_store.h"

namespace sealgate::appliance {

class KvApi {
 public:
  // `store` may be null (it failed to open): every KV request then answers 503.
  KvApi(providers::KvStore* store, std::string defaultNamespace, ResourceRefs& refs, EmbeddedPolicyDecisionPoint& pdp,
        AuditSink& audit)
      : store_(store), defaultNamespace_(std::move(defaultNamespace)), refs_(refs), pdp_(pdp), audit_(audit) {}

  // The handler of the "/v1/**" routes (every method Vault uses, LIST included).
  HandlerResult handle(Request& request);

 private:
  struct Target {
    std::string ns;
    std::string mount;
    std::string op;    // data | metadata | delete | undelete | destroy | config
    std::string path;  // below the mount (empty for config and list roots)
    std::string resourceRef;
  };
  HandlerResult data(Request& request, const Target& t);
  HandlerResult readData(Request& request, const Target& t);
  HandlerResult writeData(Request& request, const Target& t);
  HandlerResult patchData(Request& request, const Target& t);
  HandlerResult metadata(Request& request, const Target& t);
  HandlerResult list(Request& request, const Target& t);
  HandlerResult versions(Request& request, const Target& t);
  HandlerResult config(Request& request, const Target& t);
  // Audits `event` (adds by and correlation_id); the error to answer when it cannot.
  std::optional<HttpError> audit(const Request& request, nlohmann::json event);

  providers::KvStore* store_;
  std::string defaultNamespace_;
  ResourceRefs& refs_;
  EmbeddedPolicyDecisionPoint& pdp_;
  AuditSink& audit_;
};

// Maps a KV store error to the Vault-shaped answer.
HttpError kvError(const Error& e);

// Vault response wrapping (X-Vault-Wrap-TTL) is not implemented: a request that
// asks for it is refused, 400 WRAPPING_UNSUPPORTED, before anything is read,
// written or audited, so a value never goes back in the clear to a client that
// asked for it wrapped. Every Vault-compatible handler calls this first.
std::optional<HttpError> refuseResponseWrapping(const Request& request);

}  // namespace sealgate::appliance
