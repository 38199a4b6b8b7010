// Tpm: the TPM 2.0 through tpm2-tss ESAPI. The TCTI comes from the config
// ("swtpm:path=..." in tests, "device:/dev/tpmrm0" in production).
//
// What sealgate needs of a TPM, and nothing else:
//   - seal a small secret to a PCR policy (only this TPM, in this PCR state, can
//     unseal it; the unsealed bytes travel in a salted, encrypted session);
//   - a monotonic NV counter (rollback protection for sealed state).
// Errors carry the TSS2_RC and the ESAPI function that returned it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/encoding.h"
#include "core/result.h"
#include "core/secret.h"

namespace sealgate::attest {

// Error codes of this folder.
namespace tpm_errc {
inline constexpr ErrorCode kUnavailable = ErrorCode::TpmUnavailable;        // TCTI or ESAPI cannot reach a TPM
inline constexpr ErrorCode kPolicy = ErrorCode::TpmPolicyMismatch;          // PCRs differ from the sealed policy
inline constexpr ErrorCode kForeignBlob = ErrorCode::TpmBlobRejected;       // blob from another TPM, or corrupt
inline constexpr ErrorCode kCounterMissing = ErrorCode::TpmCounterMissing;  // NV index undefined (TPM cleared or reset)
inline constexpr ErrorCode kCounterAuth = ErrorCode::TpmCounterAuth;        // wrong NV auth value
inline constexpr ErrorCode kBadInput = ErrorCode::TpmBadInput;
inline constexpr ErrorCode kOperation = ErrorCode::TpmError;  // any other TSS2_RC
}  // namespace tpm_errc

// An Error carrying the TSS2_RC, decoded, and the ESAPI function that returned it.
Error tssError(const char* operation, std::uint32_t rc);

class Tpm {
 public:
  // Connects through `tcti` (tpm2-tss TCTI loader syntax). Does not send
  // TPM2_Startup: swtpm runs with startup-clear and a kernel resource manager
  // has started a hardware TPM already.
  static Result<std::unique_ptr<Tpm>> open(const std::string& tcti);
  ~Tpm();
  Tpm(const Tpm&) = delete;
  Tpm& operator=(const Tpm&) = delete;

  // Seals `data` (at most 128 bytes) under an ECC P-256 storage primary of the
  // owner hierarchy, to a policy over the current values of `pcrs` (SHA-256
  // bank). The object is FIXEDTPM|FIXEDPARENT|NODA without USERWITHAUTH: only
  // the policy unlocks it. Returns marshalled TPM2B_PRIVATE ‖ TPM2B_PUBLIC.
  Result<Bytes> seal(const Secret& data, const std::vector<unsigned>& pcrs);
  // Unseals a blob made by seal() on this TPM while `pcrs` hold the same values.
  // PCRs changed → TPM_POLICY_MISMATCH; another TPM or a corrupt blob →
  // TPM_BLOB_REJECTED.
  Result<Secret> unseal(const Bytes& blob, const std::vector<unsigned>& pcrs);

  // NV monotonic counter at `nvIndex` (e.g. 0x01500020) with auth value `auth`.
  // define: creates it (AUTHWRITE|AUTHREAD|NO_DA, not ORDERLY, so a SIGKILL or
  // power loss never skips it ahead). The first read after define fails in the
  // TPM, so define also increments once.
  Result<void> defineCounter(std::uint32_t nvIndex, const Secret& auth);
  Result<void> undefineCounter(std::uint32_t nvIndex);
  bool counterDefined(std::uint32_t nvIndex);
  Result<std::uint64_t> readCounter(std::uint32_t nvIndex, const Secret& auth);
  Result<std::uint64_t> incrementCounter(std::uint32_t nvIndex, const Secret& auth);

  // Test support: extend / reset a PCR (PCR 16 is resettable from locality 0).
  Result<void> extendPcr(unsigned pcr, std::string_view data);
  Result<void> resetPcr(unsigned pcr);

 private:
  struct Impl;
  explicit Tpm(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sealgate::attest
