// ApproverDevice: the TPM 2.0 of a break-glass approver, through tpm2-tss ESAPI
// (the approver CLI's side; the server's side is attest/approver_verifier.h).
//
// What it does, and nothing else:
//   - hands out the endorsement key's certificate (from its NV index, as the TPM
//     vendor provisioned it) and the EK's public area;
//   - creates an attestation key (AK) under the RSA EK and makes it persistent;
//   - ActivateCredential: proves to the verifier that the AK lives in the TPM
//     of that EK;
//   - quotes PCRs with the AK over the verifier's challenge.
//
// The AK: ECC P-256, ECDSA-SHA256, RESTRICTED|SIGN_ENCRYPT|FIXEDTPM|FIXEDPARENT|
// SENSITIVEDATAORIGIN|USERWITHAUTH with an empty auth value, a child of the RSA
// EK in the endorsement hierarchy (what `tpm2_createak -C 0x81010001 -G ecc -g
// sha256 -s ecdsa` creates). It is made persistent at a handle (default
// 0x81010100), so the approver CLI keeps no key file: the handle is its only
// state. Its being in the endorsement hierarchy also keeps the clock fields of
// its quotes (resetCount, restartCount) unobfuscated. Using the EK (create,
// load, activate) takes a policy session with PolicySecret(TPM_RH_ENDORSEMENT):
// the TCG EK template's policy, with an empty endorsement auth.
//
// Errors: tpm_errc (attest/tpm.h) with the TSS2_RC and the ESAPI function; an
// EK, EK certificate or AK that is not in the TPM is TPM_KEY_MISSING; a
// credential for another TPM or another AK is TPM_BLOB_REJECTED.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/encoding.h"
#include "core/result.h"
#include "core/secret.h"

namespace sealgate::attest {

// Where the TCG EK Credential Profile (and swtpm_setup --create-ek-cert) puts
// the EKs and their certificates.
inline constexpr std::uint32_t kRsaEkHandle = 0x81010001;
inline constexpr std::uint32_t kEccEkHandle = 0x81010016;  // ECC P-384 on swtpm
inline constexpr std::uint32_t kRsaEkCertIndex = 0x01c00002;
inline constexpr std::uint32_t kEccEkCertIndex = 0x01c00016;
inline constexpr std::uint32_t kDefaultAkHandle = 0x81010100;
// The default quote selection (SHA-256 bank): firmware, its configuration,
// option ROMs, Secure Boot policy, and the resettable debug PCR 16.
inline const std::vector<unsigned> kDefaultQuotePcrs = {0, 1, 2, 3, 7, 16};

enum class EkKind { Rsa2048, Ecc };

// The AK as the verifier needs it.
struct AkInfo {
  std::uint32_t handle = 0;
  Bytes publicArea;  // marshalled TPM2B_PUBLIC
  Bytes name;        // the TPM's name of the AK: 0x000b ‖ SHA-256(TPMT_PUBLIC)
};

struct TpmQuote {
  Bytes attest;     // marshalled TPMS_ATTEST (the TPM2B_ATTEST's buffer): what is signed
  Bytes signature;  // marshalled TPMT_SIGNATURE
};

class ApproverDevice {
 public:
  // Connects through `tcti` (as Tpm::open; no TPM2_Startup is sent).
  static Result<std::unique_ptr<ApproverDevice>> open(const std::string& tcti);
  ~ApproverDevice();
  ApproverDevice(const ApproverDevice&) = delete;
  ApproverDevice& operator=(const ApproverDevice&) = delete;

  // The EK certificate as stored in its NV index (DER), read in chunks of the
  // TPM's NV buffer size.
  Result<Bytes> ekCertificate(EkKind kind = EkKind::Rsa2048);
  // The persistent EK's public area (marshalled TPM2B_PUBLIC).
  Result<Bytes> ekPublic(EkKind kind = EkKind::Rsa2048);

  // Creates the AK under the RSA EK and persists it at `handle` (0x81xxxxxx,
  // owner hierarchy's persistent range; an occupied handle is TPM_BAD_INPUT:
  // readAk or evictAk first).
  Result<AkInfo> createAk(std::uint32_t handle = kDefaultAkHandle);
  // The persistent AK at `handle` (TPM_KEY_MISSING if there is none).
  Result<AkInfo> readAk(std::uint32_t handle = kDefaultAkHandle);
  // Removes the persistent object at `handle`.
  Result<void> evictAk(std::uint32_t handle = kDefaultAkHandle);

  // ActivateCredential with the AK at `akHandle` and the RSA EK: `credentialBlob`
  // is a marshalled TPM2B_ID_OBJECT, `encryptedSecret` a TPM2B_ENCRYPTED_SECRET
  // (from makeCredential). The TPM releases the secret only if the seed was
  // encrypted to its EK and the credential names this AK; the secret comes back
  // in a session salted to the EK, encrypted on the wire.
  Result<Secret> activateCredential(std::span<const std::uint8_t> credentialBlob,
                                    std::span<const std::uint8_t> encryptedSecret,
                                    std::uint32_t akHandle = kDefaultAkHandle);

  // TPM2_Quote by the AK over `pcrs` (SHA-256 bank) with `qualifyingData` (the
  // verifier's challenge, 1..64 bytes) using the AK's scheme (ECDSA-SHA256).
  Result<TpmQuote> quote(std::span<const std::uint8_t> qualifyingData,
                         const std::vector<unsigned>& pcrs = kDefaultQuotePcrs,
                         std::uint32_t akHandle = kDefaultAkHandle);

  // The current SHA-256 values of `pcrs`, ascending by index (duplicates
  // dropped). TPM2_PCR_Read returns at most eight per call: read until all are,
  // and read again if a PCR changed in between (the update counter moved).
  // pcrCompositeDigest (approver_verifier.h) over them is what a quote reports.
  Result<std::vector<Bytes>> readPcrs(const std::vector<unsigned>& pcrs);

 private:
  struct Impl;
  explicit ApproverDevice(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sealgate::attest
