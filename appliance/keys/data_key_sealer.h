// The DataKeySealer every store uses (sealed state, KV store, audit): data keys
// are wrapped by AES-256-GCM inside the HSM under `sealgate-kek`, and, when a
// TPM is configured, that wrapped blob is sealed again by the TPM to a PCR
// policy. Unsealing then needs both this HSM and this TPM in the same PCR state.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "attest/tpm.h"
#include "core/interfaces/data_key_sealer.h"
#include "hsm/key_store.h"

namespace sealgate::appliance {

namespace sealer_errc {
inline constexpr ErrorCode kBlob = ErrorCode::SealedKeyInvalid;             // not a sealgate data-key blob
inline constexpr ErrorCode kTpmRequired = ErrorCode::SealedKeyTpmMismatch;  // TPM sealing present/expected but not both
}  // namespace sealer_errc

class HsmTpmDataKeySealer : public DataKeySealer {
 public:
  // `tpm` may be null (no TPM configured). `pcrs` is the PCR policy for new blobs.
  HsmTpmDataKeySealer(hsm::KeyStore& keys, std::string kekLabel, attest::Tpm* tpm, std::vector<unsigned> pcrs);

  // Blob: "SGDK" | version 1 | flags (bit 0: TPM) | u16 kek label length | label |
  //   without TPM: iv (12) ‖ ciphertext ‖ tag (48)
  //   with TPM:    u8 PCR count | PCR indices | TPM-sealed (iv ‖ ciphertext ‖ tag)
  // The AES-GCM AAD binds the context and the KEK label.
  Result<Bytes> seal(const Secret& dataKey, const std::string& context) override;
  // Any HSM decryption failure is HSM_DECRYPT_FAILED (tampered, foreign or wrong
  // context); TPM failures keep their tpm_errc code. A blob sealed without the TPM
  // is refused when a TPM is configured, and the reverse: never a silent downgrade.
  Result<Secret> unseal(const Bytes& blob, const std::string& context) override;

  // A fresh random 32-byte data key in protected memory.
  static Result<Secret> newDataKey();

 private:
  hsm::KeyStore& keys_;
  std::string kekLabel_;
  attest::Tpm* tpm_;
  std::vector<unsigned> pcrs_;
};

}  // namespace sealgate::appliance
