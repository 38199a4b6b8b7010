// ApproverAttestation: breakglass::DeviceAttestation over the software verifier
// of attest/approver_verifier.h, with the TPM vendor CA bundle the appliance is
// configured with (the EK certificates of approver TPMs must chain to it). No
// TPM of the appliance is used: everything here is libcrypto and tss2-mu.
#pragma once

#include <string>

#include "appliance/breakglass/device_attestation.h"

namespace sealgate::appliance {

class ApproverAttestation : public breakglass::DeviceAttestation {
 public:
  // `ekCaBundlePath`: a PEM file of the TPM vendors' CA certificates, issuing
  // CAs and their self-signed roots (attest::verifyEkCertificate). It is read
  // at every check, so a replaced bundle takes effect without a restart; an
  // unreadable one is TPM_BAD_INPUT (the configuration's fault, not the device's).
  explicit ApproverAttestation(std::string ekCaBundlePath);

  // Also EK_UNTRUSTED for an EK that is not RSA-2048: MakeCredential takes
  // only those.
  Result<Device> checkDevice(std::span<const std::uint8_t> ekCertificate, std::span<const std::uint8_t> ekPublic,
                             std::span<const std::uint8_t> akPublic) override;
  Result<Credential> makeCredential(std::span<const std::uint8_t> ekPublic, std::span<const std::uint8_t> akName,
                                    const Secret& secret) override;
  // With an empty golden digest (enrolment) the quote's own digest is taken:
  // every other check stands.
  Result<Quoted> verifyQuote(std::span<const std::uint8_t> akPublic, std::span<const std::uint8_t> attest,
                             std::span<const std::uint8_t> signature, const QuoteCheck& check) override;

 private:
  std::string ekCaBundlePath_;
};

}  // namespace sealgate::appliance
