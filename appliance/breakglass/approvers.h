// Approvers: the registry of enrolled break-glass approver devices, and the
// ApprovalVerifier BreakGlass checks approvals with (service.h).
//
// An approver is a person with a client certificate for
// spiffe://sealgate-admin/approver/<name> and a TPM 2.0. Enrolment binds <name>
// to an attestation key (AK) proven to live in a genuine TPM, and to that
// device's PCR values at enrolment; every later approval is a quote by that AK
// over the same PCRs, with the golden values, over the approval's challenge.
//
// The HTTP contract (the handlers are thin: identity, body, this class, audit;
// byte strings are base64 in JSON):
//   1. POST /admin/v1/breakglass/approvers (an admin)
//        {"name": "<name>", "pcrs": [0, 1, 2, 3, 7, 16]}     ("pcrs" optional)
//      -> createPending: a pending enrolment for approver/<name>.
//   2. POST /admin/v1/breakglass/approvers/<name>/device (approver/<name> itself)
//        {"ek_certificate", "ek_public", "ak_public"}
//      -> submitDevice: the EK certificate chains to the configured TPM vendor
//      CA bundle and certifies the EK, the AK is a restricted signing key; the
//      answer is a credential for that AK under that EK:
//        {"credential_blob", "encrypted_secret", "expires_at"}
//   3. The approver's CLI runs ActivateCredential on its TPM (it succeeds only
//      in the TPM of that EK holding that AK) and quotes the PCR selection with
//      the AK, the qualifying data being SHA-256(secret).
//   4. POST /admin/v1/breakglass/approvers/<name>/activate (approver/<name>)
//        {"secret", "attest", "signature"}
//      -> activate: the secret is the one issued, the quote verifies; the
//      approver is enrolled with the PCR digest that quote shows (the golden
//      value: the device's state at enrolment).
//   GET /admin/v1/breakglass/approvers -> list (no key material, no secrets);
//   DELETE /admin/v1/breakglass/approvers/<name> (an admin) -> remove.
//
// Rules:
//   - Bootstrap: an admin alone may enrol approvers only while fewer than
//     `quorum` are enrolled (checked at every step, so pending enrolments
//     opened early cannot enrol more than the quorum). After that,
//     ENROLMENT_NEEDS_QUORUM: enrolment will need a quorum-approved request
//     while a quorum-approved enrol_approver request for that name is open
//     (setQuorumApproval). Removal refuses to take the enrolled count below
//     `quorum` once it is reached (QUORUM_WOULD_BREAK) and, with `quorum`
//     enrolled, needs an open remove_approver request for that name; below
//     it, during bootstrap, an admin may remove what an admin alone may enrol.
//   - One device, one approver: an EK or AK enrolled for another approver is
//     APPROVER_DEVICE_IN_USE (M approvals must be M devices).
//   - The issued secret is never stored: only its SHA-256, compared in constant
//     time. A credential expires after credentialTtlSeconds (CREDENTIAL_EXPIRED)
//     and is single-use: any activation attempt that reaches the check of the
//     secret clears it, whatever the outcome (a failed attempt needs a new
//     submitDevice). That is the one refusal that changes state; every other
//     refusal changes nothing.
//   - Every change is one record write (kind "breakglass.approver", id = name),
//     durable before the in-memory copy changes: a failed write changes nothing.
//   - Freshness: the enrolment quote's TPM clock is kept; verify refuses a quote
//     not after it (QUOTE_NOT_FRESH). Later clocks are BreakGlass's, which keeps
//     the last clock of every AK over the stored approvals: so a quote made
//     before enrolment never approves, and each approval's quote is after the
//     last one BreakGlass accepted.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "appliance/breakglass/device_attestation.h"
#include "appliance/breakglass/service.h"
#include "core/encoding.h"
#include "core/interfaces/state_store.h"
#include "core/result.h"
#include "core/secret.h"

namespace sealgate::appliance::breakglass {

inline constexpr const char* kApproverRecordKind = "breakglass.approver";

enum class ApproverState {
  Pending,     // opened by an admin; no device yet (or its credential was used)
  Challenged,  // device checked, a credential issued and not yet used
  Enrolled,
};
const char* approverStateName(ApproverState state);

// One approver as stored (toApproverRecord / fromApproverRecord). Holds public
// values only: the AK's public area and name, the EK's name, the SHA-256 of the
// issued secret.
struct Approver {
  std::string name;
  ApproverState state = ApproverState::Pending;
  std::string createdBy;  // the admin's SPIFFE ID
  std::int64_t createdAt = 0;
  std::vector<unsigned> pcrs;  // SHA-256 bank, ascending
  // Challenged and Enrolled:
  Bytes akPublic;  // TPM2B_PUBLIC
  Bytes akName;
  std::string akFingerprint;
  Bytes ekName;
  // Challenged:
  Bytes secretSha256;
  std::int64_t credentialExpiresAt = 0;
  // Enrolled:
  Bytes goldenPcrDigest;
  std::int64_t enrolledAt = 0;
  QuoteClock enrolmentClock;  // the enrolment quote's: the first "last clock" of the AK
};
nlohmann::json toApproverRecord(const Approver& approver);
Result<Approver> fromApproverRecord(const nlohmann::json& record);  // STATE_TAMPERED when it does not read back

// What list() shows: never key material or secrets.
struct ApproverSummary {
  std::string name;
  ApproverState state = ApproverState::Pending;
  std::string createdBy;
  std::int64_t createdAt = 0;
  std::vector<unsigned> pcrs;
  std::string akFingerprint;             // empty while pending
  std::int64_t credentialExpiresAt = 0;  // 0 unless challenged
  std::int64_t enrolledAt = 0;           // 0 unless enrolled
  std::optional<QuoteClock> enrolmentClock;
};
nlohmann::json toApiJson(const ApproverSummary& summary);

class Approvers : public ApprovalVerifier {
 public:
  // `settings`: quorum, approverPcrs (the default selection), credentialTtlSeconds.
  Approvers(StateStore& state, DeviceAttestation& attestation, Settings settings);

  // Reads every approver from the state (at start, after the state opened).
  Result<void> load();

  // After bootstrap (`quorum` enrolled) an approver is enrolled or removed only
  // while a quorum-approved request for that change is open: `approved(name,
  // removal)` says whether one is (BreakGlass::approverChangeWindow). It is
  // asked before this class takes its lock (BreakGlass calls verify() under
  // its own). Unset: no change after bootstrap is ever approved.
  void setQuorumApproval(std::function<bool(const std::string& name, bool removal)> approved);

  // Opens (or replaces an unfinished) enrolment of `name` by `createdBy`.
  // `pcrs`: the SHA-256 PCRs (0..23) quotes must cover, sorted and without
  // repeats here; empty: settings.approverPcrs. INVALID_REQUEST (name, PCRs),
  // APPROVER_EXISTS (enrolled), ENROLMENT_NEEDS_QUORUM (bootstrap is over).
  Result<ApproverSummary> createPending(const std::string& name, const std::string& createdBy,
                                        const std::vector<unsigned>& pcrs, std::int64_t now);

  struct IssuedCredential {
    Bytes credentialBlob;
    Bytes encryptedSecret;
    std::int64_t expiresAt = 0;
  };
  // The approver's device (the caller has checked the identity is
  // approver/<name>). APPROVER_NOT_PENDING (no pending enrolment),
  // ENROLMENT_NEEDS_QUORUM, the attestation's EK_UNTRUSTED / EK_MISMATCH /
  // AK_REJECTED, APPROVER_DEVICE_IN_USE. Replaces an earlier unused credential.
  Result<IssuedCredential> submitDevice(const std::string& name, std::span<const std::uint8_t> ekCertificate,
                                        std::span<const std::uint8_t> ekPublic, std::span<const std::uint8_t> akPublic,
                                        std::int64_t now);

  // The activated secret and a quote over SHA-256(secret). APPROVER_NOT_PENDING
  // (not pending, or no credential outstanding), CREDENTIAL_EXPIRED,
  // ENROLMENT_NEEDS_QUORUM (these change nothing); then, with the credential
  // used up: CREDENTIAL_MISMATCH, the attestation's QUOTE_* codes,
  // APPROVER_DEVICE_IN_USE.
  Result<ApproverSummary> activate(const std::string& name, const Secret& secret, std::span<const std::uint8_t> attest,
                                   std::span<const std::uint8_t> signature, std::int64_t now);

  // ApprovalVerifier: APPROVER_NOT_ENROLLED, the attestation's QUOTE_* codes,
  // QUOTE_NOT_FRESH when the quote is not after the enrolment quote.
  Result<Verified> verify(const std::string& approverName, std::span<const std::uint8_t> attest,
                          std::span<const std::uint8_t> signature,
                          const std::array<std::uint8_t, 32>& qualifyingData) override;

  // Removes an approver or cancels a pending enrolment. NOT_FOUND,
  // QUORUM_WOULD_BREAK (an enrolled one, when `quorum` are enrolled and fewer
  // would remain).
  Result<void> remove(const std::string& name);

  std::vector<ApproverSummary> list() const;  // by name
  std::optional<ApproverSummary> find(const std::string& name) const;
  std::size_t enrolledCount() const;

 private:
  std::size_t enrolledCountLocked() const;
  // Bootstrap (fewer than `quorum` enrolled), or `quorumApproved`.
  Result<void> changeAllowedLocked(bool quorumApproved) const;
  bool quorumApproved(const std::string& name, bool removal) const;
  Result<void> deviceFreeLocked(const std::string& name, const Bytes& ekName, const std::string& akFingerprint) const;
  Result<void> persistLocked(const Approver& approver);
  // The approver `pending` becomes when the secret and the quote check out.
  Result<Approver> enrolledFrom(const Approver& pending, const Secret& secret, std::span<const std::uint8_t> attest,
                                std::span<const std::uint8_t> signature, std::int64_t now);

  StateStore& state_;
  DeviceAttestation& attestation_;
  Settings settings_;
  mutable std::mutex mu_;
  std::map<std::string, Approver> approvers_;
  std::function<bool(const std::string&, bool)> quorumApproval_;
};

}  // namespace sealgate::appliance::breakglass
