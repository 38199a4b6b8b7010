// The verifier's side of break-glass approver attestation: pure software
// (libcrypto and tss2-mu, no TPM), for the server. What an approver device
// (attest/approver_device.h) sends is checked here:
//
// Enrolment (once per approver device):
//   1. parseEkPublic + verifyEkCertificate: the EK certificate chains to the TPM
//      vendor CA bundle, and its key is the EK public area sent with it;
//   2. parseAkPublic: the AK is a TPM-resident restricted signing key, and its
//      name is what MakeCredential binds the challenge to;
//   3. makeCredential: a random secret only the TPM holding that EK *and* an
//      object of that AK name can recover (ActivateCredential on the device);
//      checkActivatedSecret compares the answer. After that, the AK is known to
//      live in a genuine TPM, and its public area is enrolled for the approver.
// Approval (every time): verifyQuote over the challenge nonce and the enrolled
//   PCR values; checkFresh against the last accepted quote of that AK.
//
// Every refusal has its own API-facing code (verifier_errc, docs/API.md's error
// table); wrong use by the caller (an empty nonce, PCR 24) is TPM_BAD_INPUT.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/encoding.h"
#include "core/openssl_ptr.h"
#include "core/result.h"
#include "core/secret.h"

namespace sealgate::attest {

namespace verifier_errc {
inline constexpr ErrorCode kEkUntrusted = ErrorCode::EkUntrusted;        // cert unreadable, chain fails, unusable EK
inline constexpr ErrorCode kEkMismatch = ErrorCode::EkMismatch;          // cert key != EK public area
inline constexpr ErrorCode kAkRejected = ErrorCode::AkRejected;          // not a restricted P-256 ECDSA signing key
inline constexpr ErrorCode kCredential = ErrorCode::CredentialMismatch;  // activated secret differs
inline constexpr ErrorCode kMalformed = ErrorCode::QuoteMalformed;       // attest/signature do not parse
inline constexpr ErrorCode kSignature = ErrorCode::QuoteSignatureInvalid;
inline constexpr ErrorCode kNonce = ErrorCode::QuoteNonceMismatch;
inline constexpr ErrorCode kPcr = ErrorCode::QuotePcrMismatch;
inline constexpr ErrorCode kNotFresh = ErrorCode::QuoteNotFresh;
inline constexpr ErrorCode kBadInput = ErrorCode::TpmBadInput;  // the caller's arguments
inline constexpr ErrorCode kCrypto = ErrorCode::CryptoInit;     // libcrypto failed (RNG, allocation)
}  // namespace verifier_errc

// TPM names are nameAlg ‖ H(TPMT_PUBLIC); with SHA-256: 0x000b ‖ 32 bytes.
inline constexpr std::size_t kSha256NameSize = 34;

// An EK public area (marshalled TPM2B_PUBLIC, from Esys_ReadPublic), parsed.
// RSA-2048 (the TCG default template, NV 0x1c00002 / handle 0x81010001) and ECC
// P-256 / P-384 EKs parse; makeCredential takes RSA-2048 only.
struct EkPublic {
  Bytes marshalled;  // TPM2B_PUBLIC, as given
  Bytes name;        // nameAlg ‖ H(TPMT_PUBLIC): SHA-256, or SHA-384 for a P-384 EK
  bool rsa = false;
  std::uint16_t symmetricKeyBits = 0;  // the EK's AES key size: the credential's inner wrapper uses it
  EvpPkeyPtr key;
};
// Refuses (EK_UNTRUSTED) anything but a restricted decryption key
// (RESTRICTED|DECRYPT, no SIGN_ENCRYPT, FIXEDTPM|FIXEDPARENT) with a SHA-256
// nameAlg (SHA-384 allowed for ECC: the P-384 template's) and AES-CFB
// symmetric, and trailing or non-canonical bytes.
Result<EkPublic> parseEkPublic(std::span<const std::uint8_t> tpm2bPublic);

// Verifies an EK certificate (DER, or PEM) against `caBundlePath`, a PEM file of
// the TPM vendor's CA certificates: the chain must end at a self-signed root in
// the bundle (no partial chains: an intermediate alone is not a trust anchor, so
// the bundle holds the issuing CA and its root), at the current time. Then the
// certificate's public key must equal `ek.key` (RSA modulus and exponent, or the
// ECC point), else EK_MISMATCH: a genuine certificate with someone else's EK.
// The EK certificate's extensions (TCG EKU, SAN directory name) are not
// interpreted beyond what X509_verify_cert does.
Result<void> verifyEkCertificate(std::span<const std::uint8_t> certificate, const EkPublic& ek,
                                 const std::string& caBundlePath);

// An AK public area (marshalled TPM2B_PUBLIC), parsed and checked: RESTRICTED,
// SIGN_ENCRYPT, FIXEDTPM, FIXEDPARENT, SENSITIVEDATAORIGIN set, DECRYPT clear;
// nameAlg SHA-256; ECC P-256 with the ECDSA-SHA256 scheme and no symmetric or
// KDF. RSA AKs are refused (every TPM 2.0 of the PC Client profile has P-256).
// Anything else, trailing bytes or a non-canonical encoding: AK_REJECTED.
struct AkPublic {
  Bytes marshalled;         // TPM2B_PUBLIC, as given (what gets enrolled)
  Bytes name;               // 0x000b ‖ SHA-256(TPMT_PUBLIC): what makeCredential binds
  std::string fingerprint;  // hex SHA-256 of the DER SubjectPublicKeyInfo, for display
  EvpPkeyPtr key;
};
Result<AkPublic> parseAkPublic(std::span<const std::uint8_t> tpm2bPublic);

// MakeCredential in software (TPM 2.0 Part 1, "Credential Protection"; what
// `tpm2_makecredential --tcti none` computes). Hand-written on OpenSSL: no
// Debian 12 library offers it without a TPM (tpm2-tss's ESAPI needs one; the
// tools' software path is not a library). The seed is RSA-OAEP(SHA-256) with
// the label "IDENTITY\0"; the inner wrapper AES-CFB (zero IV) under
// KDFa(seed, "STORAGE", name); the outer HMAC-SHA256 under KDFa(seed,
// "INTEGRITY") over encIdentity ‖ name; KDFa is OpenSSL's KBKDF (the .cc says
// why that is the same function). Checked against swtpm's ActivateCredential in
// approver_test.cc. The outputs are the marshalled TPM2B_ID_OBJECT and
// TPM2B_ENCRYPTED_SECRET that Esys_ActivateCredential takes.
struct Credential {
  Bytes credentialBlob;   // TPM2B_ID_OBJECT
  Bytes encryptedSecret;  // TPM2B_ENCRYPTED_SECRET
};
// `secret` is 1..32 bytes (a TPM2B_DIGEST no larger than the EK's nameAlg);
// `akName` a SHA-256 name (kSha256NameSize bytes). The EK must be RSA-2048.
Result<Credential> makeCredential(const EkPublic& ek, std::span<const std::uint8_t> akName, const Secret& secret);
// The device's answer against the issued secret, in constant time:
// CREDENTIAL_MISMATCH when they differ.
Result<void> checkActivatedSecret(const Secret& issued, const Secret& returned);

// The TPM's clock as a quote reports it (TPMS_CLOCK_INFO). `clock` counts
// milliseconds the TPM has been powered since it was manufactured (it is saved
// to NV periodically, so it can go back after a power loss: `safe` is false
// until it has been saved again); resetCount counts TPM resets (reboots),
// restartCount restarts and resumes since the last reset. The AK lives in the
// endorsement hierarchy, so none of these are obfuscated.
struct TpmClock {
  std::uint64_t clock = 0;
  std::uint32_t resetCount = 0;
  std::uint32_t restartCount = 0;
  bool safe = false;
};
// True when `cur` is strictly after `prev`: (resetCount, restartCount, clock)
// compared lexicographically.
bool isAfter(const TpmClock& prev, const TpmClock& cur);
// isAfter as a Result: QUOTE_NOT_FRESH when `cur` is not after `prev` (a replayed
// or reordered quote). The caller keeps `prev` per AK.
Result<void> checkFresh(const TpmClock& prev, const TpmClock& cur);

// SHA-256 over the concatenated PCR values, in ascending PCR order: the
// pcrDigest a quote over those PCRs reports (and the golden value to enrol).
Bytes pcrCompositeDigest(const std::vector<Bytes>& values);

// What a quote must show.
struct QuoteExpectation {
  Bytes qualifyingData;        // the challenge nonce, 1..64 bytes
  std::vector<unsigned> pcrs;  // SHA-256 bank, 0..23, at least one
  Bytes pcrDigest;             // the golden pcrCompositeDigest, 32 bytes
};
// A quote that parsed (not yet verified): the fields the checks use.
struct ParsedQuote {
  TpmClock clock;
  std::uint64_t firmwareVersion = 0;
  Bytes extraData;             // the qualifying data
  std::vector<unsigned> pcrs;  // the SHA-256 selection
  bool otherBanks = false;     // a selection of a bank other than SHA-256, or several
  Bytes pcrDigest;
};
// Unmarshals `attest` (TPMS_ATTEST: the TPM2B_ATTEST's buffer) and `signature`
// (TPMT_SIGNATURE), each consumed whole, and checks magic == TPM_GENERATED and
// type == ATTEST_QUOTE; anything else is QUOTE_MALFORMED. Checks no signature.
Result<ParsedQuote> parseQuote(std::span<const std::uint8_t> attest, std::span<const std::uint8_t> signature);
// parseQuote, then: the signature is ECDSA-SHA256 by `ak` over the attest bytes
// (QUOTE_SIGNATURE_INVALID), the qualifying data is the expected one (constant
// time; QUOTE_NONCE_MISMATCH), the PCR selection is exactly the expected one
// and the digest the golden one (QUOTE_PCR_MISMATCH). Returns the quote: the
// caller enforces freshness with checkFresh on `clock`.
Result<ParsedQuote> verifyQuote(const AkPublic& ak, std::span<const std::uint8_t> attest,
                                std::span<const std::uint8_t> signature, const QuoteExpectation& expect);

}  // namespace sealgate::attest
