#include "appliance/app/appliance.h"

#include "appliance/app/readiness.h"
#include "appliance/audit/audit_http.h"
#include "appliance/connectors/crypto_connectors.h"
#include "appliance/connectors/ldap_connector.h"
#include "appliance/connectors/postgres_connector.h"
#include "appliance/connectors/rest_connector.h"
#include "appliance/connectors/ssh_connector.h"
#include "appliance/telemetry/egress.h"
#include "appliance/telemetry/logging.h"
#include "appliance/ui/ui_routes.h"
#include "core/secret_uri.h"
#include "core/time_format.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sealgate::appliance {

using nlohmann::json;

// Opening order: the HSM keys, the embedded policy, the sealed state, the audit
// log (anchored in the state), the decision points and grant endpoints, the
// providers, the listeners.
Result<std::unique_ptr<Appliance>> Appliance::start(const Config& config) {
  std::unique_ptr<Appliance> app(new Appliance());
  app->config_ = config;
  SEALGATE_TRY(app->lockDataDir());
  SEALGATE_ASSIGN_OR_RETURN(auto refVersion, app->openKeys());
  SEALGATE_TRY(app->loadPolicy());
  app->openState();
  SEALGATE_TRY(app->openAudit());
  SEALGATE_TRY(app->startKeyRotation());
  SEALGATE_TRY(app->startBreakGlass());
  SEALGATE_TRY(app->startDecisions());
  app->startKvAndLeases();
  SEALGATE_TRY(app->startProviders());
  SEALGATE_TRY(app->startListeners());
  logEvent(LogLevel::Info, "started",
           {{"name", config.name},
            {"pep_port", app->pepPort()},
            {"admin_port", app->adminPort()},
            {"token", config.hsm.tokenLabel},
            {"ref_key_version", refVersion}});
  return app;
}

// One daemon per data directory: a second one would open the same sealed state
// journal and audit log beside the first (each assumes it is the only writer).
// The lock is held until the process ends.
Result<void> Appliance::lockDataDir() {
  const std::string path = dataDirLockPath(config_);
  dataDirLock_.fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (dataDirLock_.fd < 0) {
    return makeError(ErrorCode::DataDirInUse, "cannot open " + path + ": " + std::strerror(errno));
  }
  if (::flock(dataDirLock_.fd, LOCK_EX | LOCK_NB) != 0) {
    return makeError(ErrorCode::DataDirInUse, "another sealgated runs on this data directory (" + path + ")");
  }
  return {};
}

Appliance::DataDirLock::~DataDirLock() {
  if (fd >= 0) ::close(fd);
}

// The HSM's keys: the resource_ref key (its version is returned) and the grant keys.
Result<unsigned> Appliance::openKeys() {
  SEALGATE_ASSIGN_OR_RETURN(auto keys, ApplianceKeys::open(config_));
  keys_ = std::move(keys);
  keys_->recordOperationsIn(metrics_);
  SEALGATE_ASSIGN_OR_RETURN(auto refVersion, keys_->loadRefKeys());
  refs_ = std::make_unique<ResourceRefs>(keys_->refMac(), 100000);
  for (KeyedMac* mac : keys_->refMacs()) {
    if (mac->keyVersion() != refVersion) refs_->addKey(*mac);
  }
  SEALGATE_ASSIGN_OR_RETURN(auto grantKeys, keys_->grantSigningKeys());
  SEALGATE_ASSIGN_OR_RETURN(auto grants, GrantAuthority::load(std::move(grantKeys), config_.name));
  grants_ = std::move(grants);
  return refVersion;
}

// Fail closed, but stay up: every state-dependent request answers 503 with the
// state's code, and an admin can inspect /admin/v1/status and re-initialise.
void Appliance::openState() {
  state_ = keys_->stateGuard(config_, &metrics_);
  if (auto opened = state_->open(); !opened) {
    logEvent(LogLevel::Error, "state_unavailable",
             {{"code", opened.error().code},
              {"error", opened.error().describe()},
              {"effect", "consume, delegate and DPoP-bound authorize are denied until the state opens"}});
  }
}

Result<void> Appliance::openAudit() {
  const std::string auditDir = (config_.dataDir.empty() ? std::string(".") : config_.dataDir) + "/audit";
  SEALGATE_ASSIGN_OR_RETURN(auto signer, keys_->checkpointSigner());
  AuditLogOptions auditOptions;
  auditOptions.dir = auditDir;
  auditOptions.origin = config_.name;
  auditOptions.checkpointEvery = config_.audit.checkpointEvery;
  auditOptions.checkpointInterval = config_.audit.checkpointInterval;
  auditOptions.appendTimeout = config_.audit.appendTimeout;
  // Truncation: the log must extend the head the sealed state anchored, and every
  // new durable head is anchored there (with the next state change or checkpoint).
  if (auto anchored = state_->auditHead()) {
    auditOptions.anchor = *anchored;
  } else {
    logEvent(LogLevel::Warn, "audit_anchor_unchecked",
             {{"reason", "the state is not open, so the audit log's length cannot be checked against it"}});
  }
  auditOptions.onDurableHead = [guard = state_.get()](const merkle::TreeHead& head) { guard->anchorAuditHead(head); };
  auditOptions.onBatch = [metrics = &metrics_](double seconds, std::size_t entries, bool ok) {
    metrics->observe("sealgate_audit_append_duration_seconds",
                     "Writing and syncing one batch of audit entries (group commit).", {}, seconds);
    metrics->add("sealgate_audit_appended_entries_total",
                 "Audit entries written in batches (with the batch count "
                 "of sealgate_audit_append_duration_seconds: the mean batch size).",
                 {}, static_cast<double>(entries));
    if (!ok) metrics->add("sealgate_audit_append_errors_total", "Audit batches that could not be written.", {});
  };
  SEALGATE_ASSIGN_OR_RETURN(auto audit, MerkleAuditLog::open(auditOptions, std::move(signer)));
  audit_ = std::move(audit);
  auditApi_ = std::make_unique<AuditApi>(*audit_);
  if (!config_.audit.kafkaBootstrapServers.empty()) {
    KafkaSinkOptions ko;
    ko.bootstrapServers = config_.audit.kafkaBootstrapServers;
    ko.topic = config_.audit.kafkaTopic;
    ko.offsetFile = auditDir + "/kafka.offset";
    SEALGATE_ASSIGN_OR_RETURN(auto kafka, KafkaForwarder::start(*audit_, ko));
    kafka_ = std::move(kafka);
  }
  return {};
}

// Key rotation, with the retirements the sealed state records applied (a
// record that does not read back stops start-up: STATE_TAMPERED).
Result<void> Appliance::startKeyRotation() {
  keyRotation_ =
      std::make_unique<KeyRotation>(*keys_, *refs_, *grants_, *audit_, *audit_, *state_, config_.grants.maxTtl,
                                    config_.hsm.refKeyVersion != 0, config_.pep.certFile);
  SEALGATE_TRY(keyRotation_->load());
  keyRotationApi_ = std::make_unique<KeyRotationApi>(*keyRotation_, *audit_);
  return {};
}

// Break-glass, when configured: the approvers and requests stored in the
// state (a record that does not read back stops start-up: STATE_TAMPERED), and
// a settler that ends windows and expires requests every second.
Result<void> Appliance::startBreakGlass() {
  if (!config_.breakglass.enabled) return {};
  approverAttestation_ = std::make_unique<ApproverAttestation>(config_.breakglass.ekCaFile);
  approvers_ = std::make_unique<breakglass::Approvers>(*state_, *approverAttestation_, config_.breakglass);
  breakGlass_ = std::make_unique<breakglass::BreakGlass>(*state_, *approvers_, config_.breakglass);
  const auto unixNow = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  approvers_->setQuorumApproval([bg = breakGlass_.get(), unixNow](const std::string& name, bool removal) {
    const auto change = removal ? breakglass::Mode::RemoveApprover : breakglass::Mode::EnrolApprover;
    return bg->approverChangeWindow(name, change, unixNow()).has_value();
  });
  SEALGATE_TRY(approvers_->load());
  SEALGATE_TRY(breakGlass_->load());
  breakGlassApi_ = std::make_unique<breakglass::BreakGlassApi>(*breakGlass_, *approvers_, *audit_, unixNow);
  breakGlassApi_->settle();
  breakGlassSettler_ =
      std::make_unique<PeriodicTask>(std::chrono::seconds(1), [api = breakGlassApi_.get()] { api->settle(); });
  return {};
}

Result<bool> Appliance::reloadTls(const Config& fresh) {
  const std::string label = fresh.hsm.tlsKeyLabel;
  auto pepConfig = config_.pep;
  auto adminConfig = config_.admin;
  pepConfig.certFile = fresh.pep.certFile;
  adminConfig.certFile = fresh.admin.certFile;
  SEALGATE_ASSIGN_OR_RETURN(auto fingerprint, certificateFingerprint(pepConfig.certFile));
  SEALGATE_ASSIGN_OR_RETURN(auto adminFingerprint, certificateFingerprint(adminConfig.certFile));
  fingerprint += " " + adminFingerprint;
  if (label == keys_->tlsKeyLabel() && fingerprint == tlsFingerprint_) return false;  // nothing changed
  if (keyRotation_->isRetired(label)) return makeError(ErrorCode::KeyRetired, label + " is retired");
  // Both listeners' contexts first, each checked against the key: both switch or neither.
  SEALGATE_ASSIGN_OR_RETURN(auto key, keys_->tlsKey(label));
  SEALGATE_ASSIGN_OR_RETURN(auto pepTls, Listener::makeTlsContext(pepConfig, key));
  SEALGATE_ASSIGN_OR_RETURN(auto adminTls, Listener::makeTlsContext(adminConfig, key));
  json event = auditEvent("tls_reload", Actor{"", "sealgated", "", "", ""});
  event.update(json{
      {"signal", "SIGHUP"}, {"label", label}, {"previous", keys_->tlsKeyLabel()}, {"certificate_sha256", fingerprint}});
  if (!appendAuditEvent(*audit_, Actor{"", "sealgated", "", "", ""}, event)) {
    return makeError(ErrorCode::AuditUnavailable, "the audit log cannot record the TLS reload; nothing changed");
  }
  pep_->useTlsContext(std::move(pepTls));
  admin_->useTlsContext(std::move(adminTls));
  keys_->setTlsKeyLabel(label);
  keyRotation_->setTlsCertFile(pepConfig.certFile);
  config_.pep.certFile = pepConfig.certFile;
  config_.admin.certFile = adminConfig.certFile;
  config_.hsm.tlsKeyLabel = label;
  tlsFingerprint_ = fingerprint;
  logEvent(LogLevel::Info, "tls_reloaded", {{"label", label}, {"certificate_sha256", fingerprint}});
  return true;
}

Result<void> Appliance::reloadPolicy() {
  if (!policyAdminApi_) return makeError(ErrorCode::PolicyInvalid, "the PDP is remote: there is no policy to reload");
  return policyAdminApi_->reloadFromFile();
}

// The embedded PDP. No policy file configured: deny everything (fail closed).
Result<void> Appliance::loadPolicy() {
  SEALGATE_ASSIGN_OR_RETURN(auto policy, config_.policyFile.empty() ? Policy::parse(R"({"version":1,"rules":[]})")
                                                                    : Policy::load(config_.policyFile));
  pdp_ = std::make_unique<EmbeddedPolicyDecisionPoint>(std::make_shared<const Policy>(std::move(policy)));
  return {};
}

// The remote PDP when configured, the decision cache in front of the one that
// decides, and the grant endpoints.
Result<void> Appliance::startDecisions() {
  if (config_.pdp.type != PdpType::Embedded) {
    SEALGATE_ASSIGN_OR_RETURN(auto remote, RemoteDecisionPoint::create(RemotePdpSettings{
                                               pdpTypeName(config_.pdp.type), config_.pdp.url, config_.pdp.caFile,
                                               config_.pdp.certFile, config_.pdp.keyFile, config_.pdp.timeout}));
    remotePdp_ = std::move(remote);
  }
  DecisionPoint& decider = remotePdp_ ? static_cast<DecisionPoint&>(*remotePdp_) : *pdp_;
  decisionCache_ =
      std::make_unique<CachingDecisionPoint>(decider, config_.pdp.negativeCache, config_.pdp.positiveCache);
  decisionCache_->setCallObserver([metrics = &metrics_](double seconds, bool ok) {
    metrics->observe("sealgate_pdp_call_duration_seconds", "PDP calls (decision cache misses), by outcome.",
                     {{"outcome", ok ? "ok" : "error"}}, seconds);
  });
  // Break-glass windows (null without a breakglass section: no window, and a bg grant is refused).
  const BreakGlassWindows* windows = breakGlass_.get();
  presentation_ = std::make_unique<GrantPresentation>(config_.grants, *grants_, *state_, *audit_, windows);
  presentation_->checkRefVersionsWith(*refs_);
  pepApi_ = std::make_unique<PepApi>(config_, *refs_, *grants_, *decisionCache_, *state_, *audit_, *presentation_,
                                     windows, &metrics_);
  policyAdminApi_ = std::make_unique<PolicyAdminApi>(config_.policyFile, *pdp_, *audit_,
                                                     [cache = decisionCache_.get()] { cache->clear(); });
  // A revocation is remembered for the longest life a grant issued now can have.
  stateAdminApi_ = std::make_unique<StateAdminApi>(*state_, *audit_, [maxTtl = config_.grants.maxTtl] {
    return grantStateKeepUntil(
        std::chrono::duration_cast<std::chrono::seconds>((std::chrono::system_clock::now() + maxTtl).time_since_epoch())
            .count());
  });
  return {};
}

// The embedded KV v2 store fails closed but the appliance stays up: KV requests
// answer 503 PROVIDER_UNAVAILABLE until it opens. PostgreSQL dynamic
// credentials keep their leases in the sealed state.
void Appliance::startKvAndLeases() {
  providers::KvStoreSettings kvSettings;
  kvSettings.dir = config_.kv.dir;
  for (const auto& [ns, mounts] : config_.kv.mounts) kvSettings.mounts[ns].insert(mounts.begin(), mounts.end());
  auto kv = providers::KvStore::open(kvSettings, keys_->dataKeySealer());
  if (kv) {
    kv_ = std::move(*kv);
  } else {
    logEvent(LogLevel::Error, "kv_unavailable", {{"code", kv.error().code}, {"error", kv.error().describe()}});
  }
  kvApi_ = std::make_unique<KvApi>(kv_.get(), config_.kv.defaultNamespace, *refs_, *pdp_, *audit_);
  if (!config_.databases.empty()) {
    databases_ = std::make_unique<providers::DatabaseCredentials>(config_.databases, *state_);
    databases_->startReaper(config_.leaseReapInterval);
  }
  leaseApi_ = std::make_unique<LeaseApi>(databases_.get(), config_.kv.defaultNamespace, *refs_, *pdp_, *audit_);
}

Result<void> Appliance::startListeners() {
  if (keyRotation_->isRetired(config_.hsm.tlsKeyLabel)) {
    return makeError(ErrorCode::KeyRetired, "hsm.tls_key_label names " + config_.hsm.tlsKeyLabel +
                                                ", a retired key: name the TLS key in use and its certificate");
  }
  SEALGATE_ASSIGN_OR_RETURN(auto tlsKey, keys_->tlsKey());
  SEALGATE_ASSIGN_OR_RETURN(
      auto pep, Listener::create(ListenerKind::Pep, config_.pep, config_.limits, tlsKey, pepRoutes(), &metrics_));
  pep_ = std::move(pep);
  SEALGATE_ASSIGN_OR_RETURN(auto admin, Listener::create(ListenerKind::Admin, config_.admin, config_.limits, tlsKey,
                                                         adminRoutes(), &metrics_));
  admin_ = std::move(admin);
  SEALGATE_ASSIGN_OR_RETURN(tlsFingerprint_, certificateFingerprint(config_.pep.certFile));
  SEALGATE_ASSIGN_OR_RETURN(auto adminFingerprint, certificateFingerprint(config_.admin.certFile));
  tlsFingerprint_ += " " + adminFingerprint;
  pep_->start();
  admin_->start();
  return {};
}

// Every mount the config names, routed by tenant and mount for /v1/execute.
Result<void> Appliance::startProviders() {
  router_ = std::make_unique<providers::ProviderRouter>();
  auto route = [&](const std::string& tenant, const std::string& mount, SecretProvider* provider) -> Result<void> {
    // A KV store that did not open still owns its mounts: they answer PROVIDER_UNAVAILABLE.
    static providers::UnavailableProvider unavailable;
    if (!router_->add(tenant, mount, provider ? *provider : unavailable)) {
      return makeError(ErrorCode::ConfigInvalid, "the mount " + tenant + "/" + mount + " is configured twice");
    }
    return {};
  };
  for (const auto& [ns, mounts] : config_.kv.mounts) {
    for (const auto& m : mounts) SEALGATE_TRY(route(ns, m, kv_.get()));
  }
  for (const auto& db : config_.databases) SEALGATE_TRY(route(db.tenant, db.mount, databases_.get()));
  for (const auto& f : config_.files) {
    SEALGATE_ASSIGN_OR_RETURN(auto provider,
                              providers::FileProvider::open(f.path, config_.mode == RunMode::Production));
    files_.push_back(std::move(provider));
    SEALGATE_TRY(route(f.tenant, f.mount, files_.back().get()));
  }
  if (!config_.vault.address.empty()) {
    SEALGATE_ASSIGN_OR_RETURN(auto vault, providers::VaultKvClient::create(config_.vault));
    vault_ = std::move(vault);
    for (const auto& [key, path] : config_.vault.mounts) {
      const auto slash = key.find('/');
      SEALGATE_TRY(route(key.substr(0, slash), key.substr(slash + 1), vault_.get()));
    }
  }
  executeApi_ = std::make_unique<ExecuteApi>(
      config_.connectors, *presentation_, *refs_, *router_, *audit_,
      [pdp = pdp_.get()](const std::string& tenant, const std::string& connector) {
        return pdp->current()->egress(tenant, connector);
      },
      protocolVocabularyWith(kOpenApiJson), metrics_);
  executeApi_->add(std::make_unique<connectors::RestConnector>());
  executeApi_->add(std::make_unique<connectors::PostgresConnector>());
  executeApi_->add(std::make_unique<connectors::LdapConnector>());
  executeApi_->add(std::make_unique<connectors::SshConnector>());
  executeApi_->add(std::make_unique<connectors::HmacConnector>());
  executeApi_->add(std::make_unique<connectors::SignConnector>());
  return {};
}

Appliance::~Appliance() { stop(); }

void Appliance::stop() {
  // Listeners first (they use the TLS key and the key store), then the engine.
  if (pep_) pep_->stop();
  if (admin_) admin_->stop();
  pep_.reset();
  admin_.reset();
  if (databases_) databases_->stopReaper();
  breakGlassSettler_.reset();
  // Then the Kafka forwarder, and the log last: its destructor signs a final
  // checkpoint over every entry (shutdown checkpoint).
  kafka_.reset();
  audit_.reset();
}

std::vector<Route> Appliance::commonRoutes() {
  return {
      Route{"GET",
            "/healthz",
            Access::AnyClient,
            {},
            false,
            [](Request&) -> HandlerResult {
              return Response{200, json{{"status", "ok"}}};
            }},
      Route{"GET", "/readyz", Access::AnyClient, {}, false, [this](Request&) { return readiness(); }},
      Route{"GET",
            "/v1/openapi.json",
            Access::AnyClient,
            {},
            false,
            [](Request&) -> HandlerResult {
              Response r;
              r.rawBody = kOpenApiJson;
              return r;
            }},
  };
}

std::vector<Route> Appliance::pepRoutes() {
  auto routes = commonRoutes();
  routes.push_back(Route{
      "POST", "/v1/uris/canonicalize", Access::Service, {}, true, [this](Request& r) { return canonicalize(r); }});
  routes.push_back(
      Route{"POST", "/v1/authorize", Access::Service, {}, true, [this](Request& r) { return pepApi_->authorize(r); }});
  routes.push_back(Route{
      "POST", "/v1/grants/consume", Access::Service, {}, true, [this](Request& r) { return pepApi_->consume(r); }});
  routes.push_back(Route{
      "POST", "/v1/grants/delegate", Access::Service, {}, true, [this](Request& r) { return pepApi_->delegate(r); }});
  routes.push_back(
      Route{"POST", "/v1/execute", Access::Service, {}, true, [this](Request& r) { return executeApi_->execute(r); }});
  routes.push_back(Route{
      "GET", "/.well-known/jwks.json", Access::AnyClient, {}, false, [this](Request& r) { return pepApi_->jwks(r); }});
  return routes;
}

std::vector<Route> Appliance::adminRoutes() {
  auto routes = commonRoutes();
  addAdministrationRoutes(routes);
  addAuditRoutes(routes);
  addKeyRoutes(routes);
  addLeaseAndKvRoutes(routes);
  breakglass::addBreakGlassRoutes(routes, breakGlassApi_.get());
  ui::addUiRoutes(routes);
  return routes;
}

// Status, metrics, policy, grants and the state.
void Appliance::addAdministrationRoutes(std::vector<Route>& routes) {
  routes.push_back(Route{"GET", "/admin/v1/status", Access::Admin, {"admin", "auditor"}, false, [this](Request&) {
                           return adminStatus();
                         }});
  routes.push_back(
      Route{"GET", "/metrics", Access::Admin, {"admin", "auditor"}, false, [this](Request&) -> HandlerResult {
              Response r;
              r.contentType = "text/plain; version=0.0.4";
              r.rawBody = metricsText();
              return r;
            }});
  routes.push_back(Route{"GET", "/admin/v1/policy", Access::Admin, {"admin", "auditor"}, false, [this](Request& r) {
                           return policyAdminApi_->getPolicy(r);
                         }});
  routes.push_back(Route{"PUT", "/admin/v1/policy", Access::Admin, {"admin"}, true, [this](Request& r) {
                           return policyAdminApi_->putPolicy(r);
                         }});
  routes.push_back(
      Route{"POST", "/admin/v1/policy/test", Access::Admin, {"admin", "auditor"}, true, [this](Request& r) {
              return policyAdminApi_->testPolicy(r);
            }});
  routes.push_back(
      Route{"POST", "/admin/v1/policy/validate", Access::Admin, {"admin", "auditor"}, true, [this](Request& r) {
              return policyAdminApi_->validatePolicy(r);
            }});
  routes.push_back(
      Route{"GET", "/admin/v1/policy/history", Access::Admin, {"admin", "auditor"}, false, [this](Request& r) {
              return policyAdminApi_->listHistory(r);
            }});
  routes.push_back(
      Route{"GET", "/admin/v1/policy/history/{id}", Access::Admin, {"admin", "auditor"}, false, [this](Request& r) {
              return policyAdminApi_->getHistoryVersion(r);
            }});
  routes.push_back(Route{"GET", "/admin/v1/grants", Access::Admin, {"admin", "auditor"}, false, [this](Request& r) {
                           return stateAdminApi_->listGrants(r);
                         }});
  routes.push_back(Route{"DELETE", "/admin/v1/grants/{id}", Access::Admin, {"admin"}, false, [this](Request& r) {
                           return stateAdminApi_->revokeGrant(r);
                         }});
  routes.push_back(Route{"POST", "/admin/v1/state/reinitialize", Access::Admin, {"admin"}, true, [this](Request& r) {
                           return reinitializeState(r);
                         }});
}

// Key rotation: admins rotate and retire; auditors read the versions and correlate refs.
void Appliance::addKeyRoutes(std::vector<Route>& routes) {
  routes.push_back(Route{"GET", "/admin/v1/keys", Access::Admin, {"admin", "auditor"}, false, [this](Request& r) {
                           return keyRotationApi_->inventory(r);
                         }});
  routes.push_back(Route{"POST", "/admin/v1/keys/rotate", Access::Admin, {"admin"}, true, [this](Request& r) {
                           return keyRotationApi_->rotate(r);
                         }});
  routes.push_back(Route{"POST", "/admin/v1/keys/retire", Access::Admin, {"admin"}, true, [this](Request& r) {
                           return keyRotationApi_->retire(r);
                         }});
  routes.push_back(
      Route{"POST", "/admin/v1/keys/correlate", Access::Admin, {"admin", "auditor"}, true, [this](Request& r) {
              return keyRotationApi_->correlate(r);
            }});
}

// The audit log: read-only for every admin-side role; nothing rewrites it.
void Appliance::addAuditRoutes(std::vector<Route>& routes) {
  routes.push_back(
      Route{"GET", "/admin/v1/audit/public-key", Access::Admin, {"admin", "auditor"}, false, [this](Request& r) {
              return auditApi_->publicKey(r);
            }});
  routes.push_back(
      Route{"GET", "/admin/v1/audit/checkpoint", Access::Admin, {"admin", "auditor"}, false, [this](Request& r) {
              return auditApi_->checkpoint(r);
            }});
  routes.push_back(
      Route{"GET", "/admin/v1/audit/export", Access::Admin, {"admin", "auditor"}, false, [this](Request& r) {
              return auditApi_->exportBundle(r);
            }});
  routes.push_back(
      Route{"GET", "/admin/v1/audit/entries", Access::Admin, {"admin", "auditor"}, false, [this](Request& r) {
              return auditApi_->entries(r);
            }});
  routes.push_back(
      Route{"GET", "/admin/v1/audit/proofs/inclusion", Access::Admin, {"admin", "auditor"}, false, [this](Request& r) {
              return auditApi_->inclusionProof(r);
            }});
  routes.push_back(Route{
      "GET", "/admin/v1/audit/proofs/consistency", Access::Admin, {"admin", "auditor"}, false, [this](Request& r) {
        return auditApi_->consistencyProof(r);
      }});
}

// Leases (lease_api.h), in API.md's shape and at Vault's own paths; KV v2.
void Appliance::addLeaseAndKvRoutes(std::vector<Route>& routes) {
  // Where the KV browser starts: the namespaces (tenants) and their KV v2 mounts.
  routes.push_back(Route{
      "GET", "/admin/v1/kv/mounts", Access::Admin, {"admin", "auditor"}, false, [this](Request&) -> HandlerResult {
        return Response{200,
                        json{{"default_namespace", config_.kv.defaultNamespace}, {"namespaces", config_.kv.mounts}}};
      }});
  routes.push_back(Route{"GET", "/admin/v1/leases", Access::Admin, {"admin", "auditor"}, false, [this](Request& r) {
                           return leaseApi_->list(r);
                         }});
  routes.push_back(Route{"PUT", "/admin/v1/leases/renew", Access::Admin, {"admin"}, true, [this](Request& r) {
                           return leaseApi_->renew(r, false);
                         }});
  routes.push_back(Route{"PUT", "/admin/v1/leases/revoke", Access::Admin, {"admin"}, true, [this](Request& r) {
                           return leaseApi_->revoke(r, false);
                         }});
  routes.push_back(
      Route{"PUT", "/admin/v1/leases/revoke-prefix/**", Access::Admin, {"admin"}, false, [this](Request& r) {
              return leaseApi_->revokePrefix(r, false);
            }});
  for (const char* method : {"PUT", "POST"}) {
    routes.push_back(Route{method,
                           "/v1/sys/leases/lookup",
                           Access::Admin,
                           {"admin", "auditor"},
                           false,
                           [this](Request& r) { return leaseApi_->lookup(r); },
                           /*vault=*/true});
    routes.push_back(Route{method,
                           "/v1/sys/leases/renew",
                           Access::Admin,
                           {"admin"},
                           false,
                           [this](Request& r) { return leaseApi_->renew(r, true); },
                           /*vault=*/true});
    routes.push_back(Route{method,
                           "/v1/sys/leases/revoke",
                           Access::Admin,
                           {"admin"},
                           false,
                           [this](Request& r) { return leaseApi_->revoke(r, true); },
                           /*vault=*/true});
    routes.push_back(Route{method,
                           "/v1/sys/leases/revoke-prefix/**",
                           Access::Admin,
                           {"admin"},
                           false,
                           [this](Request& r) { return leaseApi_->revokePrefix(r, true); },
                           /*vault=*/true});
  }
  // Vault-compatible KV v2 (kv_api.h) and database creds: every other /v1/ path
  // of the admin listener.
  for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE", "LIST"}) {
    routes.push_back(Route{
        method,
        "/v1/**",
        Access::Admin,
        {},
        false,
        [this](Request& r) { return LeaseApi::isCredsPath(r.pathParam) ? leaseApi_->creds(r) : kvApi_->handle(r); },
        /*vault=*/true});
  }
}

// /readyz: each component's probe, run on every call (readiness.h).
HandlerResult Appliance::readiness() {
  ReadinessProbes p;
  p.hsm = [this] { return keys_->readinessCheck(); };
  p.auditHealthy = [this] { return audit_->healthy(); };
  p.auditEntries = [this] { return audit_->size(); };
  if (kafka_) {
    p.kafkaDelivered = [this] { return kafka_->delivered(); };
    p.kafkaHealthy = [this] { return kafka_->healthy(); };
  }
  p.stateHealthy = [this] { return state_->healthy(); };
  p.stateStatus = [this] { return state_->statusJson(); };
  p.pdpType = pdpTypeName(config_.pdp.type);
  // A KV store that did not open, or a database or Vault that cannot answer,
  // makes the appliance unready (their mounts answer PROVIDER_UNAVAILABLE).
  p.providers.emplace_back("kv", [open = kv_ != nullptr] { return open; });
  if (databases_) p.providers.emplace_back("databases", [this] { return databases_->healthy(); });
  if (vault_) p.providers.emplace_back("vault", [this] { return vault_->healthy(); });
  if (!files_.empty()) {
    p.providers.emplace_back("files", [this] {
      return std::all_of(files_.begin(), files_.end(), [](const auto& f) { return f->healthy(); });
    });
  }
  return readinessAnswer(p);
}

HandlerResult Appliance::canonicalize(Request& request) {
  if (auto err = checkFields(request.body, {"uri"}, {"uri"})) return *err;
  if (!request.body["uri"].is_string()) return HttpError{ErrorCode::InvalidRequest, "'uri' must be a string"};
  auto uri = SecretUri::parse(request.body["uri"].get<std::string>());
  if (!uri) return HttpError{uri.error().code, uri.error().message};
  if (auto guard = uri->checkTenant(request.identity.tenant); !guard) {
    return HttpError{guard.error().code, guard.error().message};
  }
  auto ref = refs_->of(*uri);
  if (!ref) {
    logEvent(
        LogLevel::Error, "hsm_failure",
        {{"correlation_id", request.correlationId}, {"operation", "resource_ref"}, {"error", ref.error().describe()}});
    return HttpError{ErrorCode::HsmUnavailable, "the HSM could not compute the resource_ref"};
  }
  return Response{200, json{{"canonical", uri->canonical()}, {"arn", uri->arn()}, {"resource_ref", *ref}}};
}

// GET /metrics: the families counted as requests pass (metrics_) and those read
// now from the parts that keep them (API.md, "Metrics").
std::string Appliance::metricsText() {
  using Samples = std::vector<std::pair<Metrics::Labels, double>>;
  std::string out = metrics_.render();
  if (breakGlassApi_) {
    out += Metrics::family("sealgate_breakglass_open_windows", "Break-glass windows open now.", "gauge",
                           {{{}, static_cast<double>(breakGlassApi_->openWindows())}});
  }
  const auto pdp = decisionCache_->health();
  out += Metrics::family("sealgate_pdp_calls_total", "Calls that reached the PDP (decision cache misses).", "counter",
                         {{{}, static_cast<double>(pdp.calls)}});
  out += Metrics::family("sealgate_pdp_failures_total", "PDP calls that failed (PDP_UNAVAILABLE, ...).", "counter",
                         {{{}, static_cast<double>(pdp.failures)}});
  out += Metrics::family("sealgate_pdp_last_call_seconds", "How long the last PDP call took.", "gauge",
                         {{{}, pdp.lastLatencyMs / 1000.0}});
  out += Metrics::family("sealgate_decision_cache_entries", "Decisions the cache holds.", "gauge",
                         {{{}, static_cast<double>(decisionCache_->size())}});
  out += Metrics::family(
      "sealgate_decision_cache_requests_total", "Authorize requests (batch items) by whether the cache answered them.",
      "counter",
      {{{{"result", "hit"}}, static_cast<double>(pdp.hits)}, {{{"result", "miss"}}, static_cast<double>(pdp.misses)}});
  Samples blocks;
  for (const auto& [what, n] : egressBlockCounts()) blocks.push_back({{{"what", what}}, static_cast<double>(n)});
  out +=
      Metrics::family("sealgate_egress_blocked_total",
                      "Outputs withheld because they still carried a live secret value, by kind.", "counter", blocks);
  const json state = state_->statusJson();
  const json entries = state.value("entries", json::object());
  Samples live;
  for (const char* kind : {"grants", "jtis", "leases", "records"}) {
    if (entries.contains(kind)) live.push_back({{{"kind", kind}}, entries[kind].get<double>()});
  }
  out += Metrics::family("sealgate_state_entries", "Live entries of the sealed state, by kind.", "gauge", live);
  out += Metrics::family("sealgate_state_journal_bytes", "Size of the sealed state's journal.", "gauge",
                         {{{}, state.value("journal_bytes", 0.0)}});
  const auto checkpoint = audit_->checkpointState();
  out += Metrics::family("sealgate_audit_entries", "Entries in the audit log (its tree size).", "gauge",
                         {{{}, static_cast<double>(audit_->size())}});
  out += Metrics::family("sealgate_audit_checkpointed_entries", "Entries the newest signed checkpoint covers.", "gauge",
                         {{{}, static_cast<double>(checkpoint.covered)}});
  out += Metrics::family(
      "sealgate_audit_checkpoint_age_seconds", "Seconds since the newest checkpoint was signed.", "gauge",
      {{{}, std::chrono::duration<double>(std::chrono::system_clock::now() - checkpoint.signedAt).count()}});
  if (kafka_) {
    out += Metrics::family("sealgate_audit_kafka_delivered_total", "Audit entries Kafka acknowledged.", "counter",
                           {{{}, static_cast<double>(kafka_->delivered())}});
    out += Metrics::family("sealgate_audit_kafka_healthy", "1 when the Kafka forwarder is flowing.", "gauge",
                           {{{}, kafka_->healthy() ? 1.0 : 0.0}});
  }
  out += Metrics::family("sealgate_ready", "1 when the component is ready (GET /readyz), by component.", "gauge",
                         {{{{"component", "hsm"}}, keys_->readinessCheck().value("status", "") == "ok" ? 1.0 : 0.0},
                          {{{"component", "audit"}}, audit_->healthy() ? 1.0 : 0.0},
                          {{{"component", "state"}}, state_->healthy() ? 1.0 : 0.0}});
  Samples connections, handshakeFailures;
  for (const auto* listener : {pep_.get(), admin_.get()}) {
    if (listener == nullptr) continue;
    const auto s = listener->connectionStats();
    const std::string name = listener->kind() == ListenerKind::Pep ? "pep" : "admin";
    for (const auto& [outcome, n] : {std::pair{"accepted", s.accepted},
                                     {"refused_at_cap", s.refusedAtCap},
                                     {"refused_per_peer", s.refusedPerPeer},
                                     {"handshake_failed", s.handshakeFailed},
                                     {"handshake_timed_out", s.handshakeTimedOut}}) {
      connections.push_back({{{"listener", name}, {"outcome", outcome}}, static_cast<double>(n)});
    }
    for (const auto& [reason, n] : s.handshakeFailures) {
      handshakeFailures.push_back({{{"listener", name}, {"reason", reason}}, static_cast<double>(n)});
    }
  }
  out +=
      Metrics::family("sealgate_connections_total", "TLS connections by listener and outcome.", "counter", connections);
  out += Metrics::family("sealgate_tls_handshake_failures_total", "Failed TLS handshakes by listener and reason.",
                         "counter", handshakeFailures);
  return out;
}

HandlerResult Appliance::adminStatus() {
  json hsmJson = keys_->hsmStatus();
  json tpmJson = keys_->tpmStatus();
  json breakGlassJson = {{"enabled", breakGlassApi_ != nullptr}};
  if (breakGlassApi_) {
    breakGlassJson["quorum"] = config_.breakglass.quorum;
    breakGlassJson["approvers_enrolled"] = approvers_->enrolledCount();
    breakGlassJson["open_windows"] = breakGlassApi_->openWindows();
  }
  const auto pdp = decisionCache_->health();
  json pdpJson = {{"type", pdpTypeName(config_.pdp.type)}, {"calls", pdp.calls}, {"failures", pdp.failures}};
  if (pdp.calls > 0) {
    pdpJson["last"] = {{"ok", pdp.lastOk}, {"latency_ms", pdp.lastLatencyMs}, {"at", rfc3339Seconds(pdp.lastAt)}};
    if (!pdp.lastOk) pdpJson["last"]["code"] = pdp.lastErrorCode;
  }
  return Response{200, json{{"name", config_.name},
                            {"hsm", hsmJson},
                            {"tpm", tpmJson},
                            {"state", state_->statusJson()},
                            {"pdp", pdpJson},
                            {"breakglass", breakGlassJson}}};
}

HandlerResult Appliance::reinitializeState(Request& request) {
  if (auto err = checkFields(request.body, {"confirm", "reason"}, {"confirm", "reason"})) return *err;
  if (request.body["confirm"] != "REINITIALIZE" || !request.body["reason"].is_string() ||
      request.body["reason"].get<std::string>().empty()) {
    return HttpError{ErrorCode::InvalidRequest,
                     "re-initialising forgets every use count and jti: send confirm \"REINITIALIZE\" and a reason"};
  }
  const json before = state_->statusJson();
  json event = auditEvent("state_reinitialize", actorOf(request));
  event.update(json{{"by", request.identity.spiffeId},
                    {"reason", request.body["reason"]},
                    {"previous_status", before.value("status", "")},
                    {"previous_code", before.value("code", "")},
                    {"outcome", "requested"}});
  // Audited before anything changes: no audit, no re-initialisation.
  if (auto logged = audit_->append(event.dump()); !logged) {
    return HttpError{ErrorCode::AuditUnavailable, "the audit log cannot record the request; the state is unchanged"};
  }
  auto done = state_->reinitialize();
  event["outcome"] = done ? std::string("reinitialized") : std::string(errorCodeName(done.error().code));
  if (done) event["old_state_moved_to"] = *done;
  if (auto logged = audit_->append(event.dump()); !logged) {
    logEvent(LogLevel::Error, "audit_failure", {{"error", logged.error().describe()}});
  }
  if (!done) return HttpError{stateFailureCode(done.error().code), done.error().message};
  // Break-glass requests and approvers lived in the old state: forget them too.
  if (breakGlassApi_ && (!approvers_->load() || !breakGlass_->load())) {
    logEvent(LogLevel::Error, "breakglass_reload_failed", {{"effect", "break-glass keeps its previous copy"}});
  }
  logEvent(LogLevel::Warn, "state_reinitialized", {{"by", request.identity.spiffeId}, {"moved_to", *done}});
  return Response{200, json{{"status", "reinitialized"}, {"previous_state", *done}, {"state", state_->statusJson()}}};
}

}  // namespace sealgate::appliance
