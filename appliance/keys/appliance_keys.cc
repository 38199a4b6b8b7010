#include "appliance/keys/appliance_keys.h"

#include "appliance/keys/data_key_sealer.h"
#include "appliance/keys/signing_keys.h"
#include "appliance/keys/tpm_counter.h"
#include "attest/tpm.h"
#include "core/key_labels.h"
#include "hsm/key_store.h"
#include "hsm/tls_engine.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

hsm::KeyStoreConfig keyStoreConfig(const HsmSettings& hsm, std::size_t maxSessions) {
  hsm::KeyStoreConfig ks;
  ks.modulePath = hsm.module;
  ks.tokenLabel = hsm.tokenLabel;
  ks.pin = {hsm.pinFile, hsm.pinEnv};
  ks.maxSessions = maxSessions != 0 ? maxSessions : hsm.maxSessions;
  return ks;
}

}  // namespace

ApplianceKeys::~ApplianceKeys() = default;

Result<std::unique_ptr<ApplianceKeys>> ApplianceKeys::open(const Config& config, std::size_t maxSessions) {
  std::unique_ptr<ApplianceKeys> k(new ApplianceKeys());
  k->hsm_ = config.hsm;
  k->tlsKeyLabel_ = config.hsm.tlsKeyLabel;
  k->tpmSettings_ = config.tpm;
  SEALGATE_ASSIGN_OR_RETURN(auto keys, hsm::KeyStore::open(keyStoreConfig(config.hsm, maxSessions)));
  k->keys_ = std::move(keys);
  if (!config.tpm.tcti.empty()) {
    auto tpm = attest::Tpm::open(config.tpm.tcti);
    if (tpm) {
      k->tpm_ = std::move(*tpm);
    } else {
      k->tpmError_ = tpm.error();
    }
  }
  k->sealer_ = std::make_unique<HsmTpmDataKeySealer>(*k->keys_, key_labels::kKek, k->tpm_.get(), config.tpm.pcrs);
  return k;
}

Result<unsigned> ApplianceKeys::loadRefKeys() {
  unsigned active = hsm_.refKeyVersion;
  if (active == 0) {
    SEALGATE_ASSIGN_OR_RETURN(auto highest, keys_->activeVersion(key_labels::kRefHmac));
    active = highest;
  }
  SEALGATE_ASSIGN_OR_RETURN(auto listed, keys_->listKeys());
  for (const auto& k : listed) {
    const auto version = parseVersionedLabel(k.label, key_labels::kRefHmac);
    if (version && k.kind == hsm::KeyKind::HmacSha256) SEALGATE_TRY(refMac(*version));
  }
  SEALGATE_TRY(refMac(active));  // a pinned version that is missing fails at its first use, as before
  activeRefVersion_ = active;
  return active;
}

KeyedMac& ApplianceKeys::refMac() {
  std::lock_guard lock(refMu_);
  return *refMacs_.at(activeRefVersion_);
}

std::vector<KeyedMac*> ApplianceKeys::refMacs() {
  std::lock_guard lock(refMu_);
  std::vector<KeyedMac*> out;
  for (auto& [version, mac] : refMacs_) out.push_back(mac.get());
  return out;
}

Result<KeyedMac*> ApplianceKeys::refMac(unsigned version) {
  if (version == 0) return makeError(ErrorCode::KeyUnknown, "resource_ref key versions start at 1");
  std::lock_guard lock(refMu_);
  auto& mac = refMacs_[version];
  if (!mac) mac = std::make_unique<hsm::HsmRefMac>(*keys_, version);
  return static_cast<KeyedMac*>(mac.get());
}

void ApplianceKeys::setActiveRefVersion(unsigned version) { activeRefVersion_ = version; }

Result<std::string> ApplianceKeys::createNextVersion(const std::string& prefix) {
  SEALGATE_ASSIGN_OR_RETURN(auto highest, keys_->activeVersion(prefix));
  const std::string label = versionedLabel(prefix, highest + 1);
  if (prefix == key_labels::kRefHmac) {
    SEALGATE_TRY(keys_->generateHmacKey(label));
    SEALGATE_TRY(refMac(highest + 1));
  } else if (prefix == key_labels::kGrantSigning || prefix == key_labels::kAuditSigning) {
    SEALGATE_TRY(keys_->generateEcP256Key(label));
  } else {
    return makeError(ErrorCode::KeyUnknown, prefix + " is not a versioned key");
  }
  return label;
}

Result<std::string> ApplianceKeys::createNextTlsVersion() {
  const std::string base = tlsLabelBase(tlsKeyLabel());
  unsigned highest = 1;  // the unversioned base label
  if (auto versions = keys_->activeVersion(base)) highest = std::max(highest, *versions);
  const std::string label = versionedLabel(base, highest + 1);
  SEALGATE_TRY(keys_->generateEcP256Key(label));
  return label;
}

Result<ApplianceKeys::Provisioned> ApplianceKeys::provisionKeys(bool sealedDataExists) {
  Provisioned out;
  const auto note = [&](const std::string& label, bool created) {
    (created ? out.created : out.present).push_back(label);
  };
  const bool kekPresent = keys_->keyInfo(key_labels::kKek).ok();
  if (!kekPresent && sealedDataExists) {
    return makeError(ErrorCode::HsmKeyMissing,
                     std::string("the token holds no ") + key_labels::kKek +
                         ", but sealed state or KV data exists: it was sealed under another token's KEK. Restore "
                         "that KEK into this token (the HSM vendor's backup), or move the data aside");
  }
  // The versioned keys: any version will do; the first is v1.
  for (const char* prefix : {key_labels::kRefHmac, key_labels::kGrantSigning, key_labels::kAuditSigning}) {
    if (auto version = keys_->activeVersion(prefix)) {
      note(versionedLabel(prefix, *version), false);
      continue;
    }
    const std::string label = versionedLabel(prefix, 1);
    SEALGATE_TRY(prefix == std::string(key_labels::kRefHmac) ? keys_->generateHmacKey(label)
                                                             : keys_->generateEcP256Key(label));
    note(label, true);
  }
  if (kekPresent) {
    note(key_labels::kKek, false);
  } else {
    SEALGATE_TRY(keys_->generateAes256Key(key_labels::kKek));
    note(key_labels::kKek, true);
  }
  const std::string tls = tlsKeyLabel();
  if (keys_->keyInfo(tls)) {
    note(tls, false);
  } else {
    SEALGATE_TRY(keys_->generateEcP256Key(tls));
    note(tls, true);
  }
  return out;
}

Result<void> ApplianceKeys::destroyKey(const std::string& label) { return keys_->destroyKey(label); }

Result<GrantSigningKeys> ApplianceKeys::grantSigningKeys() { return appliance::grantSigningKeys(*keys_); }

Result<CheckpointSigner> ApplianceKeys::checkpointSigner() {
  return hsmCheckpointSigner(*keys_, key_labels::kAuditSigning);
}

DataKeySealer& ApplianceKeys::dataKeySealer() { return *sealer_; }

void ApplianceKeys::recordOperationsIn(Metrics& metrics) {
  keys_->setObserver([&metrics](const char* operation, double seconds, bool ok) {
    metrics.observe("sealgate_hsm_operation_duration_seconds",
                    "HSM operations (PKCS#11), by operation: hmac, sign, encrypt, decrypt.", {{"operation", operation}},
                    seconds);
    if (!ok) {
      metrics.add("sealgate_hsm_operation_errors_total", "HSM operations that failed, by operation.",
                  {{"operation", operation}});
    }
  });
}

std::unique_ptr<StateGuard> ApplianceKeys::stateGuard(const Config& config, Metrics* metrics) {
  StateSettings settings;
  settings.dir = config.state.dir;
  settings.rollbackProtection = config.state.rollbackProtection == RollbackProtection::Tpm;
  settings.store.commitWait = config.state.commitWait;
  settings.store.checkpointInterval = config.state.checkpointInterval;
  settings.store.maxLiveEntries = config.state.maxLiveEntries;
  settings.store.compactMinBytes = config.state.compactMinBytes;
  if (metrics != nullptr) {
    settings.store.onCommit = [metrics](double seconds, std::size_t changes, bool ok) {
      metrics->observe("sealgate_state_commit_duration_seconds",
                       "Sealing, writing and syncing one group commit of the sealed state.", {}, seconds);
      metrics->add("sealgate_state_committed_changes_total",
                   "State changes made durable (with the commit count of "
                   "sealgate_state_commit_duration_seconds: the mean batch size).",
                   {}, static_cast<double>(changes));
      if (!ok) metrics->add("sealgate_state_commit_errors_total", "Group commits that could not be made durable.", {});
    };
  }
  CounterFactory counters = tpm_ ? tpmCounterFactory(*tpm_, tpmSettings_.nvIndex) : CounterFactory{};
  return std::make_unique<StateGuard>(settings, *sealer_, std::move(counters), tpmError_);
}

Result<EVP_PKEY*> ApplianceKeys::tlsKey(const std::string& label) {
  std::lock_guard lock(tlsMu_);
  const std::string wanted = label.empty() ? tlsKeyLabel_ : label;
  if (auto it = tlsKeys_.find(wanted); it != tlsKeys_.end()) return it->second.get();
  if (!engine_) {
    SEALGATE_ASSIGN_OR_RETURN(auto pin, hsm::readPin(hsm::PinSource{hsm_.pinFile, hsm_.pinEnv}));
    SEALGATE_ASSIGN_OR_RETURN(auto engine, hsm::Pkcs11Engine::load(hsm_.module, pin));
    engine_ = std::move(engine);
  }
  SEALGATE_ASSIGN_OR_RETURN(auto key, engine_->privateKey(hsm_.tokenLabel, wanted));
  EVP_PKEY* out = key.get();
  tlsKeys_[wanted] = std::move(key);
  return out;
}

void ApplianceKeys::setTlsKeyLabel(const std::string& label) {
  std::lock_guard lock(tlsMu_);
  tlsKeyLabel_ = label;
}

std::string ApplianceKeys::tlsKeyLabel() const {
  std::lock_guard lock(tlsMu_);
  return tlsKeyLabel_;
}

json ApplianceKeys::readinessCheck() {
  // Every key is looked up afresh (no handle cache): a deleted key makes us unready.
  const hsm::ExpectedKey expected[] = {
      {versionedLabel(key_labels::kRefHmac, activeRefVersion_), hsm::KeyKind::HmacSha256},
      {key_labels::kKek, hsm::KeyKind::Aes256},
      {tlsKeyLabel(), hsm::KeyKind::EcP256},
      {key_labels::kGrantSigning, hsm::KeyKind::EcP256, hsm::ExpectedKey::Match::AnyVersion},
      {key_labels::kAuditSigning, hsm::KeyKind::EcP256, hsm::ExpectedKey::Match::AnyVersion},
  };
  auto health = keys_->health(expected);
  if (!health) return {{"status", "fail"}, {"code", health.error().code}};
  if (health->healthy()) return {{"status", "ok"}};
  return {{"status", "fail"}, {"code", hsm::hsm_errc::kKeyMissing}, {"missing", health->missing}};
}

json ApplianceKeys::hsmStatus() {
  json out = {{"module", hsm_.module}};
  auto status = keys_->status();
  if (status) {
    out["token"] = {{"label", status->tokenLabel},   {"manufacturer", status->manufacturer},
                    {"model", status->model},        {"serial", status->serial},
                    {"logged_in", status->loggedIn}, {"open_sessions", status->openSessions}};
  } else {
    out["error"] = status.error().code;
  }
  json keyList = json::array();
  if (auto keys = listKeys()) {
    for (const auto& k : *keys) {
      keyList.push_back({{"label", k.label},
                         {"type", k.type},
                         {"bits", k.bits},
                         {"fingerprint", k.fingerprint},
                         {"attributes", k.attributes}});
    }
  }
  out["keys"] = keyList;
  out["ref_key_version"] = activeRefVersion_.load();
  return out;
}

json ApplianceKeys::tpmStatus() const {
  json out = {{"configured", !tpmSettings_.tcti.empty()}};
  if (!tpmSettings_.tcti.empty()) {
    out["tcti"] = tpmSettings_.tcti;
    out["reachable"] = tpm_ != nullptr;
    out["pcrs"] = tpmSettings_.pcrs;
  }
  return out;
}

Result<std::vector<KeyListing>> ApplianceKeys::listKeys() {
  SEALGATE_ASSIGN_OR_RETURN(auto keys, keys_->listKeys());
  std::vector<KeyListing> out;
  out.reserve(keys.size());
  for (const auto& k : keys) {
    out.push_back({k.label,
                   std::string(hsm::keyKindName(k.kind)),
                   k.bits,
                   k.fingerprint,
                   {k.attributes.begin(), k.attributes.end()}});
  }
  return out;
}

Result<Bytes> ApplianceKeys::publicKeyDer(const std::string& label) { return keys_->publicKeyDer(label); }

}  // namespace sealgate::appliance
