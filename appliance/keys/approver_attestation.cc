#include "appliance/keys/approver_attestation.h"

#include "attest/approver_verifier.h"

namespace sealgate::appliance {

namespace {
constexpr std::size_t kSha256DigestBytes = 32;
}  // namespace

ApproverAttestation::ApproverAttestation(std::string ekCaBundlePath) : ekCaBundlePath_(std::move(ekCaBundlePath)) {}

Result<breakglass::DeviceAttestation::Device> ApproverAttestation::checkDevice(
    std::span<const std::uint8_t> ekCertificate, std::span<const std::uint8_t> ekPublic,
    std::span<const std::uint8_t> akPublic) {
  SEALGATE_ASSIGN_OR_RETURN(auto ek, attest::parseEkPublic(ekPublic));
  SEALGATE_TRY(attest::verifyEkCertificate(ekCertificate, ek, ekCaBundlePath_));
  if (!ek.rsa) {
    return makeError(attest::verifier_errc::kEkUntrusted, "the EK is not RSA-2048: it cannot receive a credential");
  }
  SEALGATE_ASSIGN_OR_RETURN(auto ak, attest::parseAkPublic(akPublic));
  return Device{std::move(ak.name), std::move(ak.fingerprint), std::move(ek.name)};
}

Result<breakglass::DeviceAttestation::Credential> ApproverAttestation::makeCredential(
    std::span<const std::uint8_t> ekPublic, std::span<const std::uint8_t> akName, const Secret& secret) {
  SEALGATE_ASSIGN_OR_RETURN(auto ek, attest::parseEkPublic(ekPublic));
  SEALGATE_ASSIGN_OR_RETURN(auto credential, attest::makeCredential(ek, akName, secret));
  return Credential{std::move(credential.credentialBlob), std::move(credential.encryptedSecret)};
}

Result<breakglass::DeviceAttestation::Quoted> ApproverAttestation::verifyQuote(std::span<const std::uint8_t> akPublic,
                                                                               std::span<const std::uint8_t> attest,
                                                                               std::span<const std::uint8_t> signature,
                                                                               const QuoteCheck& check) {
  SEALGATE_ASSIGN_OR_RETURN(auto ak, attest::parseAkPublic(akPublic));
  attest::QuoteExpectation expect{check.qualifyingData, check.pcrs, check.goldenDigest};
  if (expect.pcrDigest.empty()) {
    // Enrolment: the golden value is what this quote shows, once it verifies.
    SEALGATE_ASSIGN_OR_RETURN(auto parsed, attest::parseQuote(attest, signature));
    if (parsed.pcrDigest.size() != kSha256DigestBytes) {
      return makeError(attest::verifier_errc::kPcr, "the quote's PCR digest is not a SHA-256 digest");
    }
    expect.pcrDigest = std::move(parsed.pcrDigest);
  }
  SEALGATE_ASSIGN_OR_RETURN(auto quote, attest::verifyQuote(ak, attest, signature, expect));
  return Quoted{breakglass::QuoteClock{quote.clock.clock, quote.clock.resetCount, quote.clock.restartCount},
                std::move(quote.pcrDigest)};
}

}  // namespace sealgate::appliance
