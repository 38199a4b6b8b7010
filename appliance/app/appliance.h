// The running appliance (the composition root): its keys, state, audit log,
// decision points, providers, and both listeners with their routes.
#pragma once

#include <memory>

#include "appliance/audit/audit_api.h"
#include "appliance/audit/audit_kafka.h"
#include "appliance/audit/audit_log.h"
#include "appliance/breakglass/breakglass_api.h"
#include "appliance/config/config.h"
#include "appliance/execute/execute_api.h"
#include "appliance/grants/grants.h"
#include "appliance/grants/pep_api.h"
#include "appliance/keys/appliance_keys.h"
#include "appliance/keys/approver_attestation.h"
#include "appliance/kv/kv_api.h"
#include "appliance/kv/lease_api.h"
#include "appliance/policy/decision_cache.h"
#include "appliance/policy/embedded_policy.h"
#include "appliance/policy/policy_admin_api.h"
#include "appliance/policy/remote_pdp.h"
#include "appliance/rotation/key_rotation_api.h"
#include "appliance/server/http_server.h"
#include "appliance/state/state_admin_api.h"
#include "appliance/state/state_guard.h"
#include "appliance/telemetry/metrics.h"
#include "core/periodic_task.h"
#include "core/resource_ref.h"
#include "providers/database_credentials.h"
#include "providers/file_provider.h"
#include "providers/provider_router.h"
#include "providers/vault_client.h"

namespace sealgate::appliance {

class Appliance {
 public:
  static Result<std::unique_ptr<Appliance>> start(const Config& config);
  ~Appliance();
  void stop();
  // SIGHUP: the embedded policy read again from policy_file (PolicyAdminApi::
  // reloadFromFile); with a remote PDP there is nothing to reload.
  Result<void> reloadPolicy();
  // SIGHUP, with the config file read again: when its hsm.tls_key_label or the
  // certificate files differ from those in use, both listeners switch to them
  // (audited, tls_reload); new connections use them, open ones finish with
  // theirs. Refused, with nothing changed, when the key is retired, a
  // certificate does not match the key, or the audit log cannot record it.
  // Other settings take effect at the next start. True when it switched.
  Result<bool> reloadTls(const Config& fresh);
  std::uint16_t pepPort() const { return pep_ ? pep_->port() : 0; }
  std::uint16_t adminPort() const { return admin_ ? admin_->port() : 0; }

 private:
  Appliance() = default;
  std::vector<Route> pepRoutes();
  std::vector<Route> adminRoutes();
  void addAdministrationRoutes(std::vector<Route>& routes);
  void addAuditRoutes(std::vector<Route>& routes);
  void addKeyRoutes(std::vector<Route>& routes);
  void addLeaseAndKvRoutes(std::vector<Route>& routes);
  std::vector<Route> commonRoutes();
  HandlerResult readiness();
  HandlerResult canonicalize(Request& request);
  HandlerResult adminStatus();
  std::string metricsText();
  HandlerResult reinitializeState(Request& request);
  Result<void> lockDataDir();
  Result<unsigned> openKeys();
  Result<void> loadPolicy();
  void openState();
  Result<void> openAudit();
  Result<void> startBreakGlass();
  Result<void> startKeyRotation();
  Result<void> startDecisions();
  void startKvAndLeases();
  Result<void> startProviders();
  Result<void> startListeners();

  // <data_dir>/sealgated.lock, flock()ed: declared first, so it is released
  // after every part that writes under the data directory has closed.
  struct DataDirLock {
    int fd = -1;
    DataDirLock() = default;
    DataDirLock(const DataDirLock&) = delete;
    DataDirLock& operator=(const DataDirLock&) = delete;
    ~DataDirLock();
  } dataDirLock_;
  Config config_;
  // Before every part that records into it, so it outlives them (the audit and
  // state writers record their last batch while they stop).
  Metrics metrics_;
  std::unique_ptr<ApplianceKeys> keys_;
  std::unique_ptr<ResourceRefs> refs_;
  std::unique_ptr<GrantAuthority> grants_;
  std::unique_ptr<EmbeddedPolicyDecisionPoint> pdp_;
  std::unique_ptr<RemoteDecisionPoint> remotePdp_;  // when pdp.type is opa or authzen
  std::unique_ptr<CachingDecisionPoint> decisionCache_;
  std::unique_ptr<StateGuard> state_;
  std::unique_ptr<MerkleAuditLog> audit_;
  std::unique_ptr<AuditApi> auditApi_;
  std::unique_ptr<KeyRotation> keyRotation_;
  std::unique_ptr<KeyRotationApi> keyRotationApi_;
  std::unique_ptr<KafkaForwarder> kafka_;  // when audit.kafka is configured
  // Break-glass (when configured): approver devices, requests and windows.
  std::unique_ptr<ApproverAttestation> approverAttestation_;
  std::unique_ptr<breakglass::Approvers> approvers_;
  std::unique_ptr<breakglass::BreakGlass> breakGlass_;
  std::unique_ptr<breakglass::BreakGlassApi> breakGlassApi_;
  std::unique_ptr<PeriodicTask> breakGlassSettler_;
  std::unique_ptr<GrantPresentation> presentation_;
  std::unique_ptr<PepApi> pepApi_;
  std::unique_ptr<PolicyAdminApi> policyAdminApi_;
  std::unique_ptr<StateAdminApi> stateAdminApi_;
  std::unique_ptr<providers::KvStore> kv_;  // null when it failed to open (KV answers 503)
  std::unique_ptr<KvApi> kvApi_;
  std::unique_ptr<providers::DatabaseCredentials> databases_;  // when databases are configured
  std::unique_ptr<LeaseApi> leaseApi_;
  std::vector<std::unique_ptr<providers::FileProvider>> files_;  // development mode only
  std::unique_ptr<providers::VaultKvClient> vault_;              // when vault.address is configured
  std::unique_ptr<providers::ProviderRouter> router_;            // every mount, for /v1/execute
  std::unique_ptr<ExecuteApi> executeApi_;
  std::unique_ptr<Listener> pep_;
  std::unique_ptr<Listener> admin_;
  std::string tlsFingerprint_;  // SHA-256 of the pep and admin certificates in use
};

// The OpenAPI document (docs/openapi.json), embedded at build time.
extern const char* const kOpenApiJson;

}  // namespace sealgate::appliance
