// DeviceAttestation: what approver enrolment (approvers.h) needs from TPM 2.0
// attestation, and nothing else. breakglass/ may not include attest/ (only
// keys/ does, CONTRIBUTING.md): keys/approver_attestation.h implements this over
// attest/approver_verifier.h with the configured EK CA bundle; the unit tests of
// breakglass/ script it.
//
// Every byte string is what the approver's device sends, as the TPM marshals it
// (TPM2B_PUBLIC, TPMS_ATTEST, TPMT_SIGNATURE, TPM2B_ID_OBJECT,
// TPM2B_ENCRYPTED_SECRET). Refusals carry the API-facing codes of docs/API.md's
// error table (EK_UNTRUSTED, EK_MISMATCH, AK_REJECTED, QUOTE_*). Implementations
// may be called from several threads at once (approvals are verified outside
// Approvers' lock).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "appliance/breakglass/request.h"
#include "core/encoding.h"
#include "core/result.h"
#include "core/secret.h"

namespace sealgate::appliance::breakglass {

class DeviceAttestation {
 public:
  virtual ~DeviceAttestation() = default;

  struct Device {
    Bytes akName;               // the TPM name of the AK (what a credential binds)
    std::string akFingerprint;  // hex SHA-256 of the AK's SubjectPublicKeyInfo
    Bytes ekName;               // the TPM name of the EK: one per physical TPM
  };
  // The EK certificate chains to the configured CA bundle and certifies
  // `ekPublic` (EK_UNTRUSTED, EK_MISMATCH; an EK that cannot receive a
  // credential is EK_UNTRUSTED); `akPublic` is a restricted signing key
  // (AK_REJECTED).
  virtual Result<Device> checkDevice(std::span<const std::uint8_t> ekCertificate,
                                     std::span<const std::uint8_t> ekPublic,
                                     std::span<const std::uint8_t> akPublic) = 0;

  struct Credential {
    Bytes credentialBlob;   // TPM2B_ID_OBJECT
    Bytes encryptedSecret;  // TPM2B_ENCRYPTED_SECRET
  };
  // MakeCredential: `secret` is recoverable only by the TPM of `ekPublic`
  // holding an object named `akName` (ActivateCredential).
  virtual Result<Credential> makeCredential(std::span<const std::uint8_t> ekPublic,
                                            std::span<const std::uint8_t> akName, const Secret& secret) = 0;

  struct QuoteCheck {
    Bytes qualifyingData;        // what the quote must carry
    std::vector<unsigned> pcrs;  // the SHA-256 selection it must cover, exactly
    Bytes goldenDigest;          // the PCR digest it must show; empty: any (enrolment)
  };
  struct Quoted {
    QuoteClock clock;
    Bytes pcrDigest;  // the digest the quote reports (the golden one at enrolment)
  };
  // The quote is a TPM-generated quote signed by `akPublic`'s key
  // (QUOTE_MALFORMED, QUOTE_SIGNATURE_INVALID), with the qualifying data
  // (QUOTE_NONCE_MISMATCH), the selection and, unless empty, the digest
  // (QUOTE_PCR_MISMATCH). Freshness is the caller's.
  virtual Result<Quoted> verifyQuote(std::span<const std::uint8_t> akPublic, std::span<const std::uint8_t> attest,
                                     std::span<const std::uint8_t> signature, const QuoteCheck& check) = 0;
};

}  // namespace sealgate::appliance::breakglass
