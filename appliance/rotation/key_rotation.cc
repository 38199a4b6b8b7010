#include "appliance/rotation/key_rotation.h"

#include <cstdio>

#include "appliance/keys/tls_request.h"
#include "appliance/telemetry/logging.h"
#include "core/json_parse.h"
#include "core/key_labels.h"
#include "core/signed_note.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

struct KindName {
  VersionedKey kind;
  std::string_view name;
  const char* prefix;
};
// The TLS key's prefix is the configured label's base (tlsLabelBase).
constexpr KindName kKinds[] = {
    {VersionedKey::RefHmac, "ref-hmac", key_labels::kRefHmac},
    {VersionedKey::Grant, "grant", key_labels::kGrantSigning},
    {VersionedKey::Audit, "audit", key_labels::kAuditSigning},
    {VersionedKey::Tls, "tls", nullptr},
};

// One second past the last instant a grant issued under a version superseded at
// `supersededAt` can verify (grantStateKeepUntil's bound).
std::int64_t retirableAfter(std::int64_t supersededAt, std::chrono::seconds grantLifetime) {
  return supersededAt + grantLifetime.count() + kGrantClockLeeway.count() + 1;
}

}  // namespace

std::optional<VersionedKey> versionedKeyFromName(std::string_view name) {
  for (const auto& k : kKinds) {
    if (k.name == name) return k.kind;
  }
  return std::nullopt;
}

std::string_view versionedKeyName(VersionedKey kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "";
}

KeyRotation::KeyRotation(ApplianceKeys& keys, ResourceRefs& refs, GrantAuthority& grants, MerkleAuditLog& log,
                         AuditSink& events, StateStore& state, std::chrono::seconds grantLifetime,
                         bool refVersionPinned, std::string tlsCertFile)
    : keys_(keys),
      refs_(refs),
      grants_(grants),
      log_(log),
      events_(events),
      state_(state),
      grantLifetime_(grantLifetime),
      refVersionPinned_(refVersionPinned),
      tlsCertFile_(std::move(tlsCertFile)) {}

// A record that does not read back is STATE_TAMPERED (the state authenticates
// what it stores, so only a bug or a changed format gets here).
Result<KeyRotation::VersionRecord> KeyRotation::readRecord(const StateStore::Record& r) {
  const auto tampered = [&] {
    return makeError(ErrorCode::StateTampered, "the key version record of " + r.id + " does not read back");
  };
  auto j = parseJson(r.dataJson, {.maxDepth = kMaxInternalJsonDepth});
  if (!j || !j->is_object()) return tampered();
  VersionRecord out;
  for (auto [key, field] : {std::pair{"superseded_at", &out.supersededAt}, std::pair{"retired_at", &out.retiredAt}}) {
    if (!j->contains(key)) continue;
    if (!(*j)[key].is_number_integer()) return tampered();
    *field = (*j)[key].get<std::int64_t>();
  }
  if (j->contains("retired_by")) {
    if (!(*j)["retired_by"].is_string()) return tampered();
    out.retiredBy = (*j)["retired_by"].get<std::string>();
  }
  return out;
}

Result<KeyRotation::VersionRecord> KeyRotation::record(const std::string& label) const {
  for (const auto& r : state_.records(kKeyVersionRecordKind)) {
    if (r.id == label) return readRecord(r);
  }
  return VersionRecord{};
}

Result<void> KeyRotation::putRecord(const std::string& label, const VersionRecord& record) {
  json j = {{"superseded_at", record.supersededAt}};
  if (record.retiredAt != 0) j.update(json{{"retired_at", record.retiredAt}, {"retired_by", record.retiredBy}});
  return state_.putRecord({kKeyVersionRecordKind, label, j.dump()});
}

Result<void> KeyRotation::load() {
  std::lock_guard lock(mu_);
  for (const auto& r : state_.records(kKeyVersionRecordKind)) {
    SEALGATE_ASSIGN_OR_RETURN(auto rec, readRecord(r));
    if (rec.retiredAt == 0) continue;
    const auto parsed = parseLabel(r.id);
    if (!parsed) continue;
    if (parsed->first == VersionedKey::RefHmac) {
      SEALGATE_ASSIGN_OR_RETURN(auto mac, keys_.refMac(parsed->second));
      refs_.addKey(*mac);
      SEALGATE_TRY(refs_.retire(parsed->second));
    } else if (parsed->first == VersionedKey::Grant) {
      // A retired version the HSM no longer holds has nothing left to refuse.
      if (auto retired = grants_.retire(r.id); !retired && retired.error().code != ErrorCode::KeyUnknown) {
        return retired;
      }
    }
  }
  return {};
}

// The kind and version of a versioned key's label: a fixed prefix's `-vN`, or
// the TLS key's base (version 1) or `<base>-vN`.
std::optional<std::pair<VersionedKey, unsigned>> KeyRotation::parseLabel(const std::string& label) const {
  for (const auto& k : kKinds) {
    if (k.prefix == nullptr) continue;
    if (auto version = parseVersionedLabel(label, k.prefix)) return std::pair{k.kind, *version};
  }
  const std::string tlsBase = tlsLabelBase(keys_.tlsKeyLabel());
  if (label == tlsBase) return std::pair{VersionedKey::Tls, 1u};
  if (auto version = parseVersionedLabel(label, tlsBase)) return std::pair{VersionedKey::Tls, *version};
  return std::nullopt;
}

std::string KeyRotation::activeLabel(VersionedKey kind) const {
  switch (kind) {
    case VersionedKey::RefHmac:
      return versionedLabel(key_labels::kRefHmac, refs_.activeVersion());
    case VersionedKey::Grant:
      return grants_.activeLabel();
    case VersionedKey::Audit:
      return log_.signer().keyLabel;
    case VersionedKey::Tls:
      return keys_.tlsKeyLabel();
  }
  return "";
}

// Creates the next version of `kind`'s key in the HSM; for tls also its
// certificate request (a key without one is destroyed again).
Result<std::string> KeyRotation::createVersion(VersionedKey kind, std::string& certificateRequest) {
  switch (kind) {
    case VersionedKey::RefHmac:
      return keys_.createNextVersion(key_labels::kRefHmac);
    case VersionedKey::Grant:
      return keys_.createNextVersion(key_labels::kGrantSigning);
    case VersionedKey::Audit:
      return keys_.createNextVersion(key_labels::kAuditSigning);
    case VersionedKey::Tls:
      break;
  }
  SEALGATE_ASSIGN_OR_RETURN(auto label, keys_.createNextTlsVersion());
  auto request = [&]() -> Result<std::string> {
    SEALGATE_ASSIGN_OR_RETURN(auto key, keys_.tlsKey(label));
    return tlsCertificateRequest(tlsCertFile_, key);
  }();
  if (!request) {
    (void)keys_.destroyKey(label);
    return std::move(request).takeError();
  }
  certificateRequest = std::move(*request);
  return label;
}

bool KeyRotation::isRetired(const std::string& label) const {
  auto rec = record(label);
  return !rec || rec->retiredAt != 0;
}

void KeyRotation::setTlsCertFile(const std::string& certFile) {
  std::lock_guard lock(mu_);
  tlsCertFile_ = certFile;
}

Result<void> KeyRotation::activate(VersionedKey kind, const std::string& label) {
  switch (kind) {
    case VersionedKey::RefHmac: {
      const unsigned version = *parseVersionedLabel(label, key_labels::kRefHmac);
      SEALGATE_ASSIGN_OR_RETURN(auto mac, keys_.refMac(version));
      refs_.addKey(*mac);
      SEALGATE_TRY(refs_.activate(version));
      keys_.setActiveRefVersion(version);
      return {};
    }
    case VersionedKey::Grant: {
      SEALGATE_ASSIGN_OR_RETURN(auto signing, keys_.grantSigningKeys());
      return grants_.reload(std::move(signing));
    }
    case VersionedKey::Audit: {
      SEALGATE_ASSIGN_OR_RETURN(auto signer, keys_.checkpointSigner());
      SEALGATE_TRY(log_.rotateSigner(std::move(signer)));
      return {};
    }
    case VersionedKey::Tls:
      return {};  // active once its certificate is installed and the config names it (reload)
  }
  return makeError(ErrorCode::Internal, "unknown key kind");
}

Result<KeyRotation::Rotated> KeyRotation::rotate(VersionedKey kind, const Actor& actor, const std::string& reason,
                                                 std::int64_t now) {
  std::lock_guard lock(mu_);
  if (kind == VersionedKey::RefHmac && refVersionPinned_) {
    return makeError(ErrorCode::KeyVersionPinned,
                     "hsm.ref_key_version pins the resource_ref key: a new version would not stay active after a "
                     "restart; remove the setting first");
  }
  Rotated out;
  out.previous = activeLabel(kind);
  // When the previous version stopped signing: it is retirable once every grant
  // it signed has expired. Recorded before the new version exists, so a crash
  // in between leaves only an early (safe) mark on the version still active.
  SEALGATE_ASSIGN_OR_RETURN(auto previous, record(out.previous));
  previous.supersededAt = now;
  SEALGATE_TRY(putRecord(out.previous, previous));
  SEALGATE_ASSIGN_OR_RETURN(out.label, createVersion(kind, out.certificateRequest));
  json event = auditEvent("key_rotated", actor);
  event.update(json{{"key_kind", versionedKeyName(kind)}, {"label", out.label}, {"previous", out.previous}});
  event["by"] = actor.spiffeId;
  if (!reason.empty()) event["reason"] = reason;
  if (!appendAuditEvent(events_, actor, event)) {
    // Unaudited, it must not take effect (a restart would make it active).
    if (auto destroyed = keys_.destroyKey(out.label); !destroyed) {
      logEvent(LogLevel::Error, "key_rotation_undo_failed",
               {{"label", out.label}, {"error", destroyed.error().describe()}});
    }
    return makeError(ErrorCode::AuditUnavailable, "the audit log cannot record the rotation; nothing was changed");
  }
  if (auto activated = activate(kind, out.label); !activated) {
    logEvent(LogLevel::Error, "key_activation_failed", {{"label", out.label}, {"error", activated.error().describe()}});
    return makeError(ErrorCode::HsmUnavailable, out.label + " was created but could not be made active (" +
                                                    std::string(errorCodeName(activated.error().code)) +
                                                    "); a restart makes it active");
  }
  logEvent(LogLevel::Info, "key_rotated",
           {{"key_kind", versionedKeyName(kind)}, {"label", out.label}, {"previous", out.previous}});
  return out;
}

Result<KeyRotation::Retired> KeyRotation::retire(const std::string& label, const Actor& actor,
                                                 const std::string& reason, std::int64_t now) {
  std::lock_guard lock(mu_);
  const auto parsed = parseLabel(label);
  if (!parsed) return makeError(ErrorCode::KeyUnknown, "not a versioned sealgate key label");
  SEALGATE_ASSIGN_OR_RETURN(auto listed, keys_.listKeys());
  bool present = false;
  for (const auto& k : listed) present = present || k.label == label;
  if (!present) return makeError(ErrorCode::KeyUnknown, "the HSM holds no key " + label);
  const VersionedKey kind = parsed->first;
  if (label == activeLabel(kind)) {
    return makeError(ErrorCode::KeyActive, label + " is the active version; rotate first");
  }
  SEALGATE_ASSIGN_OR_RETURN(auto rec, record(label));
  if (rec.retiredAt != 0) return Retired{label, true};
  if (kind == VersionedKey::RefHmac || kind == VersionedKey::Grant) {
    if (rec.supersededAt == 0) {
      // Superseded outside a rotation this appliance recorded: count from now.
      rec.supersededAt = now;
      SEALGATE_TRY(putRecord(label, rec));
    }
    const std::int64_t from = retirableAfter(rec.supersededAt, grantLifetime_);
    if (now < from) {
      return makeError(ErrorCode::KeyInUse, "grants issued under " + label + " may still be valid until " +
                                                std::to_string(from) + " (unix time); retire it after that");
    }
  }
  json event = auditEvent("key_retired", actor);
  event.update(json{{"key_kind", versionedKeyName(kind)}, {"label", label}});
  event["by"] = actor.spiffeId;
  if (!reason.empty()) event["reason"] = reason;
  if (!appendAuditEvent(events_, actor, event)) {
    return makeError(ErrorCode::AuditUnavailable, "the audit log cannot record the retirement; nothing was changed");
  }
  rec.retiredAt = now;
  rec.retiredBy = actor.spiffeId;
  SEALGATE_TRY(putRecord(label, rec));
  if (kind == VersionedKey::RefHmac) {
    SEALGATE_ASSIGN_OR_RETURN(auto mac, keys_.refMac(parsed->second));
    refs_.addKey(*mac);
    SEALGATE_TRY(refs_.retire(parsed->second));
  } else if (kind == VersionedKey::Grant) {
    SEALGATE_TRY(grants_.retire(label));
  }
  logEvent(LogLevel::Info, "key_retired", {{"key_kind", versionedKeyName(kind)}, {"label", label}});
  return Retired{label, false};
}

Result<json> KeyRotation::inventory() {
  std::lock_guard lock(mu_);
  SEALGATE_ASSIGN_OR_RETURN(auto listed, keys_.listKeys());
  std::map<std::string, VersionRecord> records;
  for (const auto& r : state_.records(kKeyVersionRecordKind)) {
    SEALGATE_ASSIGN_OR_RETURN(records[r.id], readRecord(r));
  }
  json keys = json::array();
  for (const auto& k : listed) {
    const auto parsed = parseLabel(k.label);
    if (!parsed) continue;
    const VersionedKey kind = parsed->first;
    json entry = {{"label", k.label}, {"kind", versionedKeyName(kind)}, {"version", parsed->second},
                  {"type", k.type},   {"fingerprint", k.fingerprint},   {"active", k.label == activeLabel(kind)},
                  {"retired", false}};
    if (auto r = records.find(k.label); r != records.end()) {
      if (r->second.supersededAt != 0) {
        entry["superseded_at"] = r->second.supersededAt;
        if (kind == VersionedKey::RefHmac || kind == VersionedKey::Grant) {
          entry["retirable_at"] = retirableAfter(r->second.supersededAt, grantLifetime_);
        }
      }
      if (r->second.retiredAt != 0) {
        entry["retired"] = true;
        entry["retired_at"] = r->second.retiredAt;
        entry["retired_by"] = r->second.retiredBy;
      }
    }
    if (kind != VersionedKey::RefHmac) {
      SEALGATE_ASSIGN_OR_RETURN(auto spki, keys_.publicKeyDer(k.label));
      entry["public_key_pem"] = note::spkiToPem(spki);
      if (kind == VersionedKey::Audit) {
        char id[9];
        std::snprintf(id, sizeof id, "%08x", note::ecdsaKeyId(spki));
        entry["note_key_id"] = id;
      }
    }
    keys.push_back(std::move(entry));
  }
  return json{{"keys", keys}};
}

Result<std::vector<KeyRotation::VersionRef>> KeyRotation::correlate(const std::string& canonicalUri) {
  std::vector<VersionRef> out;
  for (const auto& v : refs_.versions()) {
    VersionRef ref{v.version, v.active, v.retired, {}};
    if (!v.retired) {
      SEALGATE_ASSIGN_OR_RETURN(ref.resourceRef, refs_.ofCanonical(canonicalUri, v.version));
    }
    out.push_back(std::move(ref));
  }
  return out;
}

}  // namespace sealgate::appliance
