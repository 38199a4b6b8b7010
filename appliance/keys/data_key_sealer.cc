#include "appliance/keys/data_key_sealer.h"

#include <sodium.h>

#include <cstring>

namespace sealgate::appliance {
namespace {

constexpr std::uint8_t kVersion = 1;
constexpr std::uint8_t kFlagTpm = 0x01;
constexpr std::size_t kIvBytes = 12;

Error blobError(const std::string& why) {
  return makeError(sealer_errc::kBlob, "the sealed data key is invalid: " + why);
}

std::string aadOf(const std::string& context, const std::string& kekLabel) {
  return "sealgate-dek/v1|" + context + "|" + kekLabel;
}

}  // namespace

HsmTpmDataKeySealer::HsmTpmDataKeySealer(hsm::KeyStore& keys, std::string kekLabel, attest::Tpm* tpm,
                                         std::vector<unsigned> pcrs)
    : keys_(keys), kekLabel_(std::move(kekLabel)), tpm_(tpm), pcrs_(std::move(pcrs)) {}

Result<Secret> HsmTpmDataKeySealer::newDataKey() {
  auto key = Secret::allocate(32);
  if (!key) return key;
  randombytes_buf(key->exposeSecretBytesMutable().data(), 32);
  return key;
}

Result<Bytes> HsmTpmDataKeySealer::seal(const Secret& dataKey, const std::string& context) {
  if (kekLabel_.size() > 255) return blobError("KEK label too long");
  Bytes iv(kIvBytes);
  randombytes_buf(iv.data(), iv.size());
  const std::string aad = aadOf(context, kekLabel_);
  SEALGATE_ASSIGN_OR_RETURN(auto ct, keys_.aesGcmEncrypt(kekLabel_, iv, asBytes(aad), dataKey.exposeSecretBytes()));
  Bytes wrapped = iv;
  wrapped.insert(wrapped.end(), ct.begin(), ct.end());

  Bytes blob{'S', 'G', 'D', 'K', kVersion, static_cast<std::uint8_t>(tpm_ ? kFlagTpm : 0)};
  blob.push_back(static_cast<std::uint8_t>(kekLabel_.size() >> 8));
  blob.push_back(static_cast<std::uint8_t>(kekLabel_.size()));
  blob.insert(blob.end(), kekLabel_.begin(), kekLabel_.end());
  if (!tpm_) {
    blob.insert(blob.end(), wrapped.begin(), wrapped.end());
    return blob;
  }
  SEALGATE_ASSIGN_OR_RETURN(auto inner, Secret::copyFrom(std::span<const std::uint8_t>(wrapped)));
  SEALGATE_ASSIGN_OR_RETURN(auto sealed, tpm_->seal(inner, pcrs_));
  blob.push_back(static_cast<std::uint8_t>(pcrs_.size()));
  for (unsigned p : pcrs_) blob.push_back(static_cast<std::uint8_t>(p));
  blob.insert(blob.end(), sealed.begin(), sealed.end());
  return blob;
}

Result<Secret> HsmTpmDataKeySealer::unseal(const Bytes& blob, const std::string& context) {
  if (blob.size() < 8 || std::memcmp(blob.data(), "SGDK", 4) != 0) return blobError("bad magic");
  if (blob[4] != kVersion) return blobError("unknown version");
  const bool sealedByTpm = (blob[5] & kFlagTpm) != 0;
  if (blob[5] & ~kFlagTpm) return blobError("unknown flags");
  const std::size_t labelLen = (std::size_t{blob[6]} << 8) | blob[7];
  std::size_t at = 8;
  if (blob.size() < at + labelLen) return blobError("truncated");
  const std::string label(blob.begin() + static_cast<long>(at), blob.begin() + static_cast<long>(at + labelLen));
  at += labelLen;
  if (sealedByTpm != (tpm_ != nullptr)) {
    return makeError(sealer_errc::kTpmRequired, sealedByTpm
                                                    ? "the data key is sealed by a TPM, and no TPM is configured"
                                                    : "a TPM is configured, and the data key is not sealed by it");
  }
  Bytes wrapped;
  if (sealedByTpm) {
    if (blob.size() < at + 1) return blobError("truncated");
    const std::size_t count = blob[at++];
    if (count == 0 || blob.size() < at + count) return blobError("bad PCR list");
    std::vector<unsigned> pcrs(blob.begin() + static_cast<long>(at), blob.begin() + static_cast<long>(at + count));
    at += count;
    SEALGATE_ASSIGN_OR_RETURN(auto inner, tpm_->unseal(Bytes(blob.begin() + static_cast<long>(at), blob.end()), pcrs));
    const auto b = inner.exposeSecretBytes();
    wrapped.assign(b.begin(), b.end());  // iv ‖ ciphertext ‖ tag: not secret
  } else {
    wrapped.assign(blob.begin() + static_cast<long>(at), blob.end());
  }
  if (wrapped.size() <= kIvBytes + 16) return blobError("truncated");
  const std::string aad = aadOf(context, label);
  return keys_.aesGcmDecrypt(label, std::span<const std::uint8_t>(wrapped.data(), kIvBytes), asBytes(aad),
                             std::span<const std::uint8_t>(wrapped.data() + kIvBytes, wrapped.size() - kIvBytes));
}

}  // namespace sealgate::appliance
