// ApproverTpm: a break-glass approver's TPM 2.0 as the operator CLI uses it
// (`sealgate approver enroll`, `sealgate approve`, dev-init's initial
// ceremony): attest::ApproverDevice behind the folder rule that only keys/
// talks to attest/ (CONTRIBUTING.md). No key material leaves the TPM: the AK
// is persistent in it, and what comes out is public (EK certificate, public
// areas, quotes) or the one-time enrolment secret, held as a Secret.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/encoding.h"
#include "core/result.h"
#include "core/secret.h"

namespace sealgate::attest {
class ApproverDevice;
}

namespace sealgate::appliance {

// Where the AK is kept unless the approver chooses another persistent handle.
inline constexpr std::uint32_t kDefaultApproverAkHandle = 0x81010100;

// "0x81010100" (or decimal) -> a handle of the persistent range 0x81000000..0x81ffffff.
Result<std::uint32_t> parsePersistentHandle(const std::string& text);

class ApproverTpm {
 public:
  // Connects through `tcti` ("swtpm:path=...", "device:/dev/tpmrm0").
  static Result<std::unique_ptr<ApproverTpm>> open(const std::string& tcti);
  ~ApproverTpm();
  ApproverTpm(const ApproverTpm&) = delete;
  ApproverTpm& operator=(const ApproverTpm&) = delete;

  // What enrolment posts (POST .../approvers/{name}/device): the RSA EK's
  // certificate (DER, from its NV index) and public area, the AK's public area.
  struct Device {
    Bytes ekCertificate;
    Bytes ekPublic;
    Bytes akPublic;
    std::string akFingerprint;  // hex SHA-256 of the AK's SubjectPublicKeyInfo: what the server shows
    bool akCreated = false;     // false: the AK already at the handle was reused
  };
  // The AK at `akHandle` is reused when there is one (it must be an approver
  // AK: a restricted P-256 signing key, else AK_REJECTED), else created under
  // the RSA EK and made persistent there.
  Result<Device> device(std::uint32_t akHandle);

  // The AK at `akHandle` (TPM_KEY_MISSING when there is none): its fingerprint.
  Result<std::string> akFingerprint(std::uint32_t akHandle);

  // ActivateCredential (TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET) with the AK at
  // `akHandle`: the secret, or TPM_BLOB_REJECTED for a credential made for
  // another TPM or AK.
  Result<Secret> activateCredential(std::span<const std::uint8_t> credentialBlob,
                                    std::span<const std::uint8_t> encryptedSecret, std::uint32_t akHandle);

  struct Quote {
    Bytes attest;     // TPMS_ATTEST
    Bytes signature;  // TPMT_SIGNATURE
  };
  // TPM2_Quote by the AK over the SHA-256 PCRs `pcrs` with `qualifyingData`.
  Result<Quote> quote(std::span<const std::uint8_t> qualifyingData, const std::vector<unsigned>& pcrs,
                      std::uint32_t akHandle);

 private:
  explicit ApproverTpm(std::unique_ptr<attest::ApproverDevice> device);
  std::unique_ptr<attest::ApproverDevice> device_;
};

}  // namespace sealgate::appliance
