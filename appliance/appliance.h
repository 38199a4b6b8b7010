// The running appliance: the HSM key store, the TLS key, and both listeners with
// their routes.
#pragma once

#include <memory>

#include "appliance/admin_api.h"
#include "appliance/audit_api.h"
#include "appliance/audit_kafka.h"
#include "appliance/audit_log.h"
#include "appliance/config.h"
#include "appliance/decision_cache.h"
#include "appliance/grants.h"
#include "appliance/http_server.h"
#include "appliance/execute_api.h"
#include "appliance/kv_api.h"
#include "appliance/metrics.h"
#include "appliance/lease_api.h"
#include "appliance/data_key_sealer.h"
#include "appliance/state_guard.h"
#include "core/key_labels.h"
#include "appliance/pep_api.h"
#include "appliance/remote_pdp.h"
#include "appliance/embedded_policy.h"
#include "core/resource_ref.h"
#include "hsm/key_store.h"
#include "providers/file_provider.h"
#include "providers/provider_router.h"
#include "providers/vault_client.h"
#include "hsm/tls_engine.h"

namespace sealgate::appliance {

class Appliance {
 public:
  static Result<std::unique_ptr<Appliance>> start(const Config& config);
  ~Appliance();
  void stop();
  std::uint16_t pepPort() const { return pep_ ? pep_->port() : 0; }
  std::uint16_t adminPort() const { return admin_ ? admin_->port() : 0; }

 private:
  Appliance() = default;
  std::vector<Route> pepRoutes();
  std::vector<Route> adminRoutes();
  std::vector<Route> commonRoutes();
  HandlerResult readiness();
  HandlerResult canonicalize(Request& request);
  HandlerResult adminStatus();
  HandlerResult reinitializeState(Request& request);
  Result<void> startProviders();

  Config config_;
  std::unique_ptr<hsm::KeyStore> keys_;
  std::unique_ptr<hsm::Pkcs11Engine> engine_;
  hsm::EvpPkeyPtr tlsKey_;
  std::unique_ptr<hsm::HsmRefMac> refMac_;
  std::unique_ptr<ResourceRefs> refs_;
  std::unique_ptr<GrantAuthority> grants_;
  std::unique_ptr<EmbeddedPolicyDecisionPoint> pdp_;
  std::unique_ptr<RemoteDecisionPoint> remotePdp_;  // when pdp.type is opa or authzen
  std::unique_ptr<CachingDecisionPoint> decisionCache_;
  std::unique_ptr<attest::Tpm> tpm_;  // when tpm.tcti is configured and reachable
  std::unique_ptr<HsmTpmDataKeySealer> sealer_;
  std::unique_ptr<StateGuard> state_;
  std::unique_ptr<MerkleAuditLog> audit_;
  std::unique_ptr<AuditApi> auditApi_;
  std::unique_ptr<KafkaForwarder> kafka_;  // when audit.kafka is configured
  std::unique_ptr<PepApi> pepApi_;
  std::unique_ptr<AdminApi> adminApi_;
  std::unique_ptr<providers::KvStore> kv_;  // null when it failed to open (KV answers 503)
  std::unique_ptr<KvApi> kvApi_;
  std::unique_ptr<providers::DatabaseCredentials> databases_;  // when databases are configured
  std::unique_ptr<LeaseApi> leaseApi_;
  std::vector<std::unique_ptr<providers::FileProvider>> files_;  // development mode only
  std::unique_ptr<providers::VaultKvClient> vault_;                // when vault.address is configured
  std::unique_ptr<providers::ProviderRouter> router_;             // every mount, for /v1/execute
  Metrics metrics_;
  std::unique_ptr<ExecuteApi> executeApi_;
  std::unique_ptr<Listener> pep_;
  std::unique_ptr<Listener> admin_;
};

// The keys an appliance needs, by label prefix or label (docs/DESIGN.md, "Keys").
// One table of labels: core/key_labels.h.
inline constexpr const char* kRefKeyPrefix = key_labels::kRefHmac;
inline constexpr const char* kGrantKeyPrefix = key_labels::kGrantSigning;
inline constexpr const char* kAuditKeyPrefix = key_labels::kAuditSigning;
inline constexpr const char* kKekLabel = key_labels::kKek;

// The state guard an instance's config describes, over `keys` (and `tpm`, when
// configured). Shared by the daemon and `sealgate state init`.
struct StateComponents {
  std::unique_ptr<attest::Tpm> tpm;
  std::unique_ptr<HsmTpmDataKeySealer> sealer;
  std::unique_ptr<StateGuard> guard;
};
StateComponents makeStateComponents(const Config& config, hsm::KeyStore& keys);

// The OpenAPI document (docs/openapi.json), embedded at build time.
extern const char* const kOpenApiJson;

}  // namespace sealgate::appliance
