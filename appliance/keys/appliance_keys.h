// The appliance's keys, opened from its config: the HSM key store (resource_ref
// HMAC, KEK, grant, audit and TLS keys) and the TPM. The rest of appliance/
// reaches the HSM and the TPM only through this folder (CONTRIBUTING.md).
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "appliance/audit/audit_log.h"
#include "appliance/config/config.h"
#include "appliance/grants/grants.h"
#include "appliance/state/state_guard.h"
#include "appliance/telemetry/metrics.h"
#include "core/interfaces/data_key_sealer.h"
#include "core/openssl_ptr.h"
#include "core/resource_ref.h"

namespace sealgate::hsm {
class KeyStore;
class HsmRefMac;
class Pkcs11Engine;
}  // namespace sealgate::hsm
namespace sealgate::attest {
class Tpm;
}

namespace sealgate::appliance {

class HsmTpmDataKeySealer;

// One key as `sealgate keys list` and /admin/v1/status show it: never a value.
struct KeyListing {
  std::string label;
  std::string type;  // hmac-sha256, ec-p256, aes-256
  std::size_t bits = 0;
  std::string fingerprint;
  std::map<std::string, bool> attributes;
};

class ApplianceKeys {
 public:
  // Opens the key store of config.hsm, with at most `maxSessions` sessions (0:
  // config.hsm.maxSessions), and the TPM of config.tpm when one is configured. A
  // TPM that cannot be opened is not fatal here: the state guard answers its error.
  static Result<std::unique_ptr<ApplianceKeys>> open(const Config& config, std::size_t maxSessions = 0);
  ~ApplianceKeys();
  ApplianceKeys(const ApplianceKeys&) = delete;
  ApplianceKeys& operator=(const ApplianceKeys&) = delete;

  // Selects the active resource_ref key, config.hsm.refKeyVersion or the
  // highest sealgate-ref-hmac-vN present, and loads every version present (the
  // grants issued before a rotation name theirs). refMac() is usable once this
  // succeeded.
  Result<unsigned> loadRefKeys();
  KeyedMac& refMac();
  // Every version loaded, the active one included, lowest first.
  std::vector<KeyedMac*> refMacs();

  // --- key rotation (appliance/rotation/) ---
  // Generates `<prefix>-v<N+1>` beside the highest version N, with the same
  // type and attributes (the ref HMAC, grant and audit prefixes of
  // core/key_labels.h); returns its label. For the ref HMAC the new version is
  // loaded too (refMac(version)), not yet active.
  Result<std::string> createNextVersion(const std::string& prefix);
  Result<KeyedMac*> refMac(unsigned version);
  // The next version of the TLS key beside the one in use (`<base>-v<N+1>`,
  // where the in-use label is `<base>` or `<base>-vM`, and `<base>` counts as v1):
  // a P-256 key like it. Its label.
  Result<std::string> createNextTlsVersion();
  void setActiveRefVersion(unsigned version);
  // The initial key ceremony on a production token (docs/RUNBOOK.md, "Initial
  // key ceremony"): every key the appliance needs (docs/DESIGN.md, "Keys") that the
  // token does not hold yet is created with sealgate's templates; a key present
  // is never replaced. The KEK is not created while `sealedDataExists` (state or
  // KV data sealed under a KEK this token does not hold would be lost for good):
  // HSM_KEY_MISSING then, nothing created.
  struct Provisioned {
    std::vector<std::string> created;
    std::vector<std::string> present;
  };
  Result<Provisioned> provisionKeys(bool sealedDataExists);

  // Undoes createNextVersion when what must follow it (the audit event) failed.
  Result<void> destroyKey(const std::string& label);

  Result<GrantSigningKeys> grantSigningKeys();
  Result<CheckpointSigner> checkpointSigner();
  // Wraps data keys under the HSM's KEK, and seals them to the TPM when one is configured.
  DataKeySealer& dataKeySealer();
  // The sealed state of `config`, anchored by the TPM's NV counter when
  // rollback protection is on.
  // `metrics`, when given, records each group commit (latency, changes, errors).
  std::unique_ptr<StateGuard> stateGuard(const Config& config, Metrics* metrics = nullptr);
  // Records every HSM operation's latency and errors in `metrics`, which must
  // outlive this object. Call before the keys are used from several threads.
  void recordOperationsIn(Metrics& metrics);
  // The TLS private key `label` (empty: the one in use, at first
  // hsm.tls_key_label), used inside the HSM through the PKCS#11 engine; owned here.
  Result<EVP_PKEY*> tlsKey(const std::string& label = "");
  // After a certificate rotation: the TLS key in use, which readiness checks.
  void setTlsKeyLabel(const std::string& label);
  std::string tlsKeyLabel() const;

  // /readyz's "hsm" check: status ok, or fail with a code (and the missing labels).
  // Every key is looked up afresh: a deleted key makes the appliance unready.
  nlohmann::json readinessCheck();
  // /admin/v1/status's "hsm" and "tpm" sections.
  nlohmann::json hsmStatus();
  nlohmann::json tpmStatus() const;

  Result<std::vector<KeyListing>> listKeys();
  Result<Bytes> publicKeyDer(const std::string& label);

 private:
  ApplianceKeys() = default;

  HsmSettings hsm_;
  TpmSettings tpmSettings_;
  std::unique_ptr<hsm::KeyStore> keys_;
  std::unique_ptr<attest::Tpm> tpm_;
  std::optional<Error> tpmError_;
  std::mutex refMu_;  // guards refMacs_ (rotation adds to it while requests use it)
  std::map<unsigned, std::unique_ptr<hsm::HsmRefMac>> refMacs_;
  std::atomic<unsigned> activeRefVersion_{0};
  std::unique_ptr<HsmTpmDataKeySealer> sealer_;
  mutable std::mutex tlsMu_;  // guards what follows
  std::unique_ptr<hsm::Pkcs11Engine> engine_;
  std::map<std::string, EvpPkeyPtr> tlsKeys_;
  std::string tlsKeyLabel_;
};

}  // namespace sealgate::appliance
