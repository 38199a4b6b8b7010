// Key rotation and retirement (docs/RUNBOOK.md, "Key rotation"): new versions
// of the versioned HSM keys (core/key_labels.h) made active while the appliance
// serves, and old versions retired, never destroyed.
//
// - ref-hmac: new resource_refs are computed under the new version; a grant
//   issued before keeps naming its refs under its version, and execute
//   recomputes them under that version (ResourceRefs::ofGranted).
// - grant: the new version signs; every unretired version still verifies.
// - audit: the old key signs a checkpoint covering every entry so far, the new
//   one signs one of the same size and every later one; an auditor verifies a
//   bundle that spans the rotation with both public keys.
//
// A retired ref-hmac or grant version makes the grants that depend on it
// unusable (KEY_RETIRED), so it can only be retired once every grant issued
// under it has expired: the state records when each version was superseded.
// Retiring an audit key records the fact; its public key stays listed, and the
// checkpoints it signed keep verifying.
//
// - tls: the next version of the listeners' key (`<base>-v<N+1>`) and a
//   certificate request for it; it takes effect when the operator has installed
//   its certificate and names it in the config (a SIGHUP reload), never before.
//
// Every rotation and retirement is in the audit log before it takes effect.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "appliance/audit/audit_event.h"
#include "appliance/audit/audit_log.h"
#include "appliance/grants/grants.h"
#include "appliance/keys/appliance_keys.h"
#include "core/interfaces/state_store.h"
#include "core/resource_ref.h"

namespace sealgate::appliance {

enum class VersionedKey { RefHmac, Grant, Audit, Tls };
// "ref-hmac", "grant", "audit", "tls" (the API's and the CLI's `kind`).
std::optional<VersionedKey> versionedKeyFromName(std::string_view name);
std::string_view versionedKeyName(VersionedKey kind);

// The sealed state's record of one key version (kind "key_version", id its label).
inline constexpr const char* kKeyVersionRecordKind = "key_version";

class KeyRotation {
 public:
  // `grantLifetime`: the longest a grant can live (grants.max_ttl); a version
  // superseded that long ago (plus the clock leeway) signed no grant still
  // valid. `refVersionPinned`: hsm.ref_key_version is set. `tlsCertFile`: the
  // listeners' certificate, whose names a TLS key's certificate request carries.
  // `events` records every rotation and retirement (the daemon's: `log` itself).
  KeyRotation(ApplianceKeys& keys, ResourceRefs& refs, GrantAuthority& grants, MerkleAuditLog& log, AuditSink& events,
              StateStore& state, std::chrono::seconds grantLifetime, bool refVersionPinned, std::string tlsCertFile);

  // Applies the retirements the sealed state records (at start, once the state is open).
  Result<void> load();

  struct Rotated {
    std::string label;               // the new version: active, but for tls
    std::string previous;            // the version it supersedes
    std::string certificateRequest;  // tls: PEM, for the CA to sign
  };
  // Errors: KEY_VERSION_PINNED; the state's code; HSM_UNAVAILABLE;
  // AUDIT_UNAVAILABLE (the new key is destroyed again: nothing changed).
  Result<Rotated> rotate(VersionedKey kind, const Actor& actor, const std::string& reason, std::int64_t now);

  struct Retired {
    std::string label;
    bool already = false;  // it was retired before; nothing changed
  };
  // Errors: KEY_UNKNOWN, KEY_ACTIVE, KEY_IN_USE (the message names the unix
  // time from which it is retirable), the state's code, AUDIT_UNAVAILABLE.
  Result<Retired> retire(const std::string& label, const Actor& actor, const std::string& reason, std::int64_t now);

  // Whether `label` is a retired version (a TLS reload refuses one). A record
  // that does not read back counts as retired (fail closed).
  bool isRetired(const std::string& label) const;
  // After a TLS reload: the certificate now in use.
  void setTlsCertFile(const std::string& certFile);

  // Every version of every versioned key: label, kind, version, active,
  // retired, when superseded / retired / retirable, fingerprint, and the
  // public key (PEM, and the signed-note key id for audit keys) of EC keys.
  Result<nlohmann::json> inventory();

  // The resource_ref of a canonical URI under every key version (retired ones
  // named without a ref): lets an auditor follow one secret across rotations.
  struct VersionRef {
    unsigned version = 0;
    bool active = false;
    bool retired = false;
    std::string resourceRef;  // empty when retired
  };
  Result<std::vector<VersionRef>> correlate(const std::string& canonicalUri);

 private:
  struct VersionRecord {
    std::int64_t supersededAt = 0;
    std::int64_t retiredAt = 0;
    std::string retiredBy;
  };
  static Result<VersionRecord> readRecord(const StateStore::Record& r);
  // The record of `label`; an empty one when there is none.
  Result<VersionRecord> record(const std::string& label) const;
  Result<void> putRecord(const std::string& label, const VersionRecord& record);
  Result<void> activate(VersionedKey kind, const std::string& label);
  std::string activeLabel(VersionedKey kind) const;
  std::optional<std::pair<VersionedKey, unsigned>> parseLabel(const std::string& label) const;
  Result<std::string> createVersion(VersionedKey kind, std::string& certificateRequest);

  ApplianceKeys& keys_;
  ResourceRefs& refs_;
  GrantAuthority& grants_;
  MerkleAuditLog& log_;
  AuditSink& events_;
  StateStore& state_;
  const std::chrono::seconds grantLifetime_;
  const bool refVersionPinned_;
  mutable std::mutex mu_;  // one rotation or retirement at a time; guards tlsCertFile_
  std::string tlsCertFile_;
};

}  // namespace sealgate::appliance
