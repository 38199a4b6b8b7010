#include "appliance/keys/approver_tpm.h"

#include <charconv>

#include "attest/approver_device.h"
#include "attest/approver_verifier.h"

namespace sealgate::appliance {

static_assert(kDefaultApproverAkHandle == attest::kDefaultAkHandle);

Result<std::uint32_t> parsePersistentHandle(const std::string& text) {
  std::string_view digits = text;
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
    base = 16;
  }
  std::uint32_t handle = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), handle, base);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || (handle >> 24) != 0x81) {
    return makeError(ErrorCode::TpmBadInput, "an AK handle is a persistent handle 0x81000000..0x81ffffff");
  }
  return handle;
}

ApproverTpm::ApproverTpm(std::unique_ptr<attest::ApproverDevice> device) : device_(std::move(device)) {}
ApproverTpm::~ApproverTpm() = default;

Result<std::unique_ptr<ApproverTpm>> ApproverTpm::open(const std::string& tcti) {
  SEALGATE_ASSIGN_OR_RETURN(auto device, attest::ApproverDevice::open(tcti));
  return std::unique_ptr<ApproverTpm>(new ApproverTpm(std::move(device)));
}

Result<ApproverTpm::Device> ApproverTpm::device(std::uint32_t akHandle) {
  Device out;
  SEALGATE_ASSIGN_OR_RETURN(out.ekCertificate, device_->ekCertificate(attest::EkKind::Rsa2048));
  SEALGATE_ASSIGN_OR_RETURN(out.ekPublic, device_->ekPublic(attest::EkKind::Rsa2048));
  auto ak = device_->readAk(akHandle);
  if (!ak && ak.error().code == ErrorCode::TpmKeyMissing) {
    ak = device_->createAk(akHandle);
    out.akCreated = true;
  }
  if (!ak) return ak.error();
  SEALGATE_ASSIGN_OR_RETURN(auto parsed, attest::parseAkPublic(ak->publicArea));
  out.akPublic = std::move(ak->publicArea);
  out.akFingerprint = std::move(parsed.fingerprint);
  return out;
}

Result<std::string> ApproverTpm::akFingerprint(std::uint32_t akHandle) {
  SEALGATE_ASSIGN_OR_RETURN(auto ak, device_->readAk(akHandle));
  SEALGATE_ASSIGN_OR_RETURN(auto parsed, attest::parseAkPublic(ak.publicArea));
  return std::move(parsed.fingerprint);
}

Result<Secret> ApproverTpm::activateCredential(std::span<const std::uint8_t> credentialBlob,
                                               std::span<const std::uint8_t> encryptedSecret, std::uint32_t akHandle) {
  return device_->activateCredential(credentialBlob, encryptedSecret, akHandle);
}

Result<ApproverTpm::Quote> ApproverTpm::quote(std::span<const std::uint8_t> qualifyingData,
                                              const std::vector<unsigned>& pcrs, std::uint32_t akHandle) {
  SEALGATE_ASSIGN_OR_RETURN(auto q, device_->quote(qualifyingData, pcrs, akHandle));
  return Quote{std::move(q.attest), std::move(q.signature)};
}

}  // namespace sealgate::appliance
