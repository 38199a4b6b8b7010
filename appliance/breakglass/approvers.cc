#include "appliance/breakglass/approvers.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>

#include "core/json_parse.h"

namespace sealgate::appliance::breakglass {

using nlohmann::json;

namespace {

constexpr unsigned kPcrCount = 24;
constexpr std::size_t kSecretBytes = 32;

Bytes sha256(std::span<const std::uint8_t> data) {
  Bytes out(SHA256_DIGEST_LENGTH);
  SHA256(data.data(), data.size(), out.data());
  return out;
}

Result<Bytes> hexField(const json& j, const char* key) {
  auto bytes = decodeHex(j.at(key).get<std::string>());
  if (!bytes) return makeError(ErrorCode::StateTampered, std::string("bad hex in an approver record: ") + key);
  return std::move(*bytes);
}

ApproverState parseState(const std::string& s) {
  if (s == "enrolled") return ApproverState::Enrolled;
  if (s == "challenged") return ApproverState::Challenged;
  return ApproverState::Pending;
}

ApproverSummary summaryOf(const Approver& a) {
  ApproverSummary s;
  s.name = a.name;
  s.state = a.state;
  s.createdBy = a.createdBy;
  s.createdAt = a.createdAt;
  s.pcrs = a.pcrs;
  s.akFingerprint = a.akFingerprint;
  if (a.state == ApproverState::Challenged) s.credentialExpiresAt = a.credentialExpiresAt;
  if (a.state == ApproverState::Enrolled) {
    s.enrolledAt = a.enrolledAt;
    s.enrolmentClock = a.enrolmentClock;
  }
  return s;
}

// Back to Pending: the device's values and the credential dropped.
void clearDevice(Approver& a) {
  a.state = ApproverState::Pending;
  a.akPublic.clear();
  a.akName.clear();
  a.akFingerprint.clear();
  a.ekName.clear();
  a.secretSha256.clear();
  a.credentialExpiresAt = 0;
}

Result<std::vector<unsigned>> normalizePcrs(std::vector<unsigned> pcrs) {
  std::sort(pcrs.begin(), pcrs.end());
  if (std::adjacent_find(pcrs.begin(), pcrs.end()) != pcrs.end()) {
    return makeError(ErrorCode::InvalidRequest, "a PCR is listed twice");
  }
  if (pcrs.empty() || pcrs.back() >= kPcrCount) {
    return makeError(ErrorCode::InvalidRequest, "the PCR selection must be one or more of PCRs 0..23");
  }
  return pcrs;
}

}  // namespace

const char* approverStateName(ApproverState state) {
  switch (state) {
    case ApproverState::Pending:
      return "pending";
    case ApproverState::Challenged:
      return "challenged";
    case ApproverState::Enrolled:
      return "enrolled";
  }
  return "pending";
}

json toApproverRecord(const Approver& a) {
  return {{"name", a.name},
          {"state", approverStateName(a.state)},
          {"created_by", a.createdBy},
          {"created_at", a.createdAt},
          {"pcrs", a.pcrs},
          {"ak_public", hexLower(a.akPublic)},
          {"ak_name", hexLower(a.akName)},
          {"ak_fingerprint", a.akFingerprint},
          {"ek_name", hexLower(a.ekName)},
          {"secret_sha256", hexLower(a.secretSha256)},
          {"credential_expires_at", a.credentialExpiresAt},
          {"golden_pcr_digest", hexLower(a.goldenPcrDigest)},
          {"enrolled_at", a.enrolledAt},
          {"clock", a.enrolmentClock.clock},
          {"reset_count", a.enrolmentClock.resetCount},
          {"restart_count", a.enrolmentClock.restartCount}};
}

Result<Approver> fromApproverRecord(const json& j) {
  // Written by toApproverRecord into the sealed state (authenticated): a record
  // that does not read back is a bug or a newer format.
  try {
    Approver a;
    a.name = j.at("name").get<std::string>();
    a.state = parseState(j.at("state").get<std::string>());
    a.createdBy = j.at("created_by").get<std::string>();
    a.createdAt = j.at("created_at").get<std::int64_t>();
    a.pcrs = j.at("pcrs").get<std::vector<unsigned>>();
    SEALGATE_ASSIGN_OR_RETURN(a.akPublic, hexField(j, "ak_public"));
    SEALGATE_ASSIGN_OR_RETURN(a.akName, hexField(j, "ak_name"));
    a.akFingerprint = j.at("ak_fingerprint").get<std::string>();
    SEALGATE_ASSIGN_OR_RETURN(a.ekName, hexField(j, "ek_name"));
    SEALGATE_ASSIGN_OR_RETURN(a.secretSha256, hexField(j, "secret_sha256"));
    a.credentialExpiresAt = j.at("credential_expires_at").get<std::int64_t>();
    SEALGATE_ASSIGN_OR_RETURN(a.goldenPcrDigest, hexField(j, "golden_pcr_digest"));
    a.enrolledAt = j.at("enrolled_at").get<std::int64_t>();
    a.enrolmentClock = QuoteClock{j.at("clock").get<std::uint64_t>(), j.at("reset_count").get<std::uint32_t>(),
                                  j.at("restart_count").get<std::uint32_t>()};
    if (!validApproverName(a.name)) return makeError(ErrorCode::StateTampered, "an approver record has a bad name");
    return a;
  } catch (const json::exception&) {
    return makeError(ErrorCode::StateTampered, "an approver record does not read back");
  }
}

json toApiJson(const ApproverSummary& s) {
  json j = {{"name", s.name},
            {"state", approverStateName(s.state)},
            {"created_by", s.createdBy},
            {"created_at", s.createdAt},
            {"pcrs", s.pcrs}};
  if (!s.akFingerprint.empty()) j["ak_fingerprint"] = s.akFingerprint;
  if (s.credentialExpiresAt != 0) j["credential_expires_at"] = s.credentialExpiresAt;
  if (s.state == ApproverState::Enrolled) j["enrolled_at"] = s.enrolledAt;
  return j;
}

Approvers::Approvers(StateStore& state, DeviceAttestation& attestation, Settings settings)
    : state_(state), attestation_(attestation), settings_(std::move(settings)) {}

Result<void> Approvers::load() {
  std::map<std::string, Approver> approvers;
  for (const auto& record : state_.records(kApproverRecordKind)) {
    SEALGATE_ASSIGN_OR_RETURN(auto j, parseJson(record.dataJson, {.maxDepth = kMaxInternalJsonDepth}));
    SEALGATE_ASSIGN_OR_RETURN(auto approver, fromApproverRecord(j));
    if (approver.name != record.id)
      return makeError(ErrorCode::StateTampered, "an approver record is under another id");
    approvers.emplace(approver.name, std::move(approver));
  }
  std::lock_guard lock(mu_);
  approvers_ = std::move(approvers);
  return Ok{};
}

std::size_t Approvers::enrolledCountLocked() const {
  return static_cast<std::size_t>(std::count_if(
      approvers_.begin(), approvers_.end(), [](const auto& kv) { return kv.second.state == ApproverState::Enrolled; }));
}

void Approvers::setQuorumApproval(std::function<bool(const std::string&, bool)> approved) {
  std::lock_guard lock(mu_);
  quorumApproval_ = std::move(approved);
}

bool Approvers::quorumApproved(const std::string& name, bool removal) const {
  std::function<bool(const std::string&, bool)> approved;
  {
    std::lock_guard lock(mu_);
    approved = quorumApproval_;
  }
  return approved && approved(name, removal);
}

Result<void> Approvers::changeAllowedLocked(bool quorumApproved) const {
  if (enrolledCountLocked() >= settings_.quorum && !quorumApproved) {
    return makeError(ErrorCode::EnrolmentNeedsQuorum,
                     "the quorum of approvers is enrolled: changing them needs an open, quorum-approved request");
  }
  return Ok{};
}

Result<void> Approvers::deviceFreeLocked(const std::string& name, const Bytes& ekName,
                                         const std::string& akFingerprint) const {
  for (const auto& [other, a] : approvers_) {
    if (other == name || a.state != ApproverState::Enrolled) continue;
    if (a.ekName == ekName || a.akFingerprint == akFingerprint) {
      return makeError(ErrorCode::ApproverDeviceInUse, "this TPM is enrolled for another approver");
    }
  }
  return Ok{};
}

Result<void> Approvers::persistLocked(const Approver& approver) {
  return state_.putRecord({kApproverRecordKind, approver.name, toApproverRecord(approver).dump()});
}

Result<ApproverSummary> Approvers::createPending(const std::string& name, const std::string& createdBy,
                                                 const std::vector<unsigned>& pcrs, std::int64_t now) {
  if (!validApproverName(name)) {
    return makeError(ErrorCode::InvalidRequest, "an approver name is [a-z0-9][a-z0-9._-]{0,63}");
  }
  SEALGATE_ASSIGN_OR_RETURN(auto selection, normalizePcrs(pcrs.empty() ? settings_.approverPcrs : pcrs));
  const bool approved = quorumApproved(name, false);
  std::lock_guard lock(mu_);
  if (auto it = approvers_.find(name); it != approvers_.end() && it->second.state == ApproverState::Enrolled) {
    return makeError(ErrorCode::ApproverExists, "this approver is enrolled");
  }
  SEALGATE_TRY(changeAllowedLocked(approved));
  Approver a;
  a.name = name;
  a.createdBy = createdBy;
  a.createdAt = now;
  a.pcrs = std::move(selection);
  SEALGATE_TRY(persistLocked(a));
  approvers_[name] = a;
  return summaryOf(a);
}

Result<Approvers::IssuedCredential> Approvers::submitDevice(const std::string& name,
                                                            std::span<const std::uint8_t> ekCertificate,
                                                            std::span<const std::uint8_t> ekPublic,
                                                            std::span<const std::uint8_t> akPublic, std::int64_t now) {
  const bool approved = quorumApproved(name, false);
  std::lock_guard lock(mu_);
  const auto it = approvers_.find(name);
  if (it == approvers_.end() || it->second.state == ApproverState::Enrolled) {
    return makeError(ErrorCode::ApproverNotPending, "no pending enrolment for this approver");
  }
  SEALGATE_TRY(changeAllowedLocked(approved));
  SEALGATE_ASSIGN_OR_RETURN(auto device, attestation_.checkDevice(ekCertificate, ekPublic, akPublic));
  SEALGATE_TRY(deviceFreeLocked(name, device.ekName, device.akFingerprint));

  SEALGATE_ASSIGN_OR_RETURN(Secret secret, Secret::allocate(kSecretBytes));
  auto out = secret.exposeSecretBytesMutable();
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return makeError(ErrorCode::Internal, "no randomness for an enrolment credential");
  }
  SEALGATE_ASSIGN_OR_RETURN(auto credential, attestation_.makeCredential(ekPublic, device.akName, secret));

  Approver next = it->second;
  clearDevice(next);
  next.state = ApproverState::Challenged;
  next.akPublic.assign(akPublic.begin(), akPublic.end());
  next.akName = std::move(device.akName);
  next.akFingerprint = std::move(device.akFingerprint);
  next.ekName = std::move(device.ekName);
  next.secretSha256 = sha256(secret.exposeSecretBytes());
  next.credentialExpiresAt = now + settings_.credentialTtlSeconds;
  SEALGATE_TRY(persistLocked(next));
  it->second = next;
  return IssuedCredential{std::move(credential.credentialBlob), std::move(credential.encryptedSecret),
                          next.credentialExpiresAt};
}

Result<Approver> Approvers::enrolledFrom(const Approver& pending, const Secret& secret,
                                         std::span<const std::uint8_t> attest, std::span<const std::uint8_t> signature,
                                         std::int64_t now) {
  const Bytes digest = sha256(secret.exposeSecretBytes());
  if (!constantTimeEquals(digest, pending.secretSha256)) {
    return makeError(ErrorCode::CredentialMismatch, "the activated secret is not the one issued");
  }
  DeviceAttestation::QuoteCheck check{digest, pending.pcrs, {}};
  SEALGATE_ASSIGN_OR_RETURN(auto quoted, attestation_.verifyQuote(pending.akPublic, attest, signature, check));
  SEALGATE_TRY(deviceFreeLocked(pending.name, pending.ekName, pending.akFingerprint));
  Approver next = pending;
  next.state = ApproverState::Enrolled;
  next.secretSha256.clear();
  next.credentialExpiresAt = 0;
  next.goldenPcrDigest = std::move(quoted.pcrDigest);
  next.enrolledAt = now;
  next.enrolmentClock = quoted.clock;
  return next;
}

Result<ApproverSummary> Approvers::activate(const std::string& name, const Secret& secret,
                                            std::span<const std::uint8_t> attest,
                                            std::span<const std::uint8_t> signature, std::int64_t now) {
  const bool approved = quorumApproved(name, false);
  std::lock_guard lock(mu_);
  const auto it = approvers_.find(name);
  if (it == approvers_.end() || it->second.state != ApproverState::Challenged) {
    return makeError(ErrorCode::ApproverNotPending, "no credential outstanding for this approver");
  }
  if (now >= it->second.credentialExpiresAt) {
    return makeError(ErrorCode::CredentialExpired, "the credential expired: post the device again");
  }
  SEALGATE_TRY(changeAllowedLocked(approved));
  // From here on the credential is used up, whatever the outcome: one write
  // stores the enrolment or the pending enrolment without its credential.
  auto enrolled = enrolledFrom(it->second, secret, attest, signature, now);
  Approver next = it->second;
  if (enrolled) {
    next = std::move(*enrolled);
  } else {
    clearDevice(next);
  }
  SEALGATE_TRY(persistLocked(next));
  it->second = next;
  if (!enrolled) return enrolled.error();
  return summaryOf(next);
}

Result<ApprovalVerifier::Verified> Approvers::verify(const std::string& approverName,
                                                     std::span<const std::uint8_t> attest,
                                                     std::span<const std::uint8_t> signature,
                                                     const std::array<std::uint8_t, 32>& qualifyingData) {
  Approver enrolled;
  {
    std::lock_guard lock(mu_);
    const auto it = approvers_.find(approverName);
    if (it == approvers_.end() || it->second.state != ApproverState::Enrolled) {
      return makeError(ErrorCode::ApproverNotEnrolled, "this approver has no enrolled device");
    }
    enrolled = it->second;
  }
  DeviceAttestation::QuoteCheck check{Bytes(qualifyingData.begin(), qualifyingData.end()), enrolled.pcrs,
                                      enrolled.goldenPcrDigest};
  SEALGATE_ASSIGN_OR_RETURN(auto quoted, attestation_.verifyQuote(enrolled.akPublic, attest, signature, check));
  if (!quoted.clock.isAfter(enrolled.enrolmentClock)) {
    return makeError(ErrorCode::QuoteNotFresh, "the quote is not newer than the enrolment of this device");
  }
  return Verified{enrolled.akFingerprint, quoted.clock};
}

Result<void> Approvers::remove(const std::string& name) {
  const bool approved = quorumApproved(name, true);
  std::lock_guard lock(mu_);
  const auto it = approvers_.find(name);
  if (it == approvers_.end()) return makeError(ErrorCode::NotFound, "no such approver");
  // Below the quorum (bootstrap) an admin alone may enrol, so may remove too;
  // a pending enrolment is only an admin's.
  const std::size_t enrolled = enrolledCountLocked();
  if (it->second.state == ApproverState::Enrolled && enrolled >= settings_.quorum) {
    if (enrolled - 1 < settings_.quorum) {
      return makeError(ErrorCode::QuorumWouldBreak,
                       "removing this approver would leave fewer than the quorum enrolled");
    }
    SEALGATE_TRY(changeAllowedLocked(approved));
  }
  SEALGATE_TRY(state_.deleteRecord(kApproverRecordKind, name));
  approvers_.erase(it);
  return Ok{};
}

std::vector<ApproverSummary> Approvers::list() const {
  std::lock_guard lock(mu_);
  std::vector<ApproverSummary> out;
  out.reserve(approvers_.size());
  for (const auto& [name, a] : approvers_) out.push_back(summaryOf(a));
  return out;
}

std::optional<ApproverSummary> Approvers::find(const std::string& name) const {
  std::lock_guard lock(mu_);
  const auto it = approvers_.find(name);
  if (it == approvers_.end()) return std::nullopt;
  return summaryOf(it->second);
}

std::size_t Approvers::enrolledCount() const {
  std::lock_guard lock(mu_);
  return enrolledCountLocked();
}

}  // namespace sealgate::appliance::breakglass
