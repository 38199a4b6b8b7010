// The approver device's side of enrolment (breakglass/approvers.h, steps 2 to
// 4), one sequence for both ways it is run:
//   - `sealgate approver enroll`: the peer is the admin listener (HTTPS, the
//     approver's own certificate);
//   - dev-init's initial ceremony: the peer is breakglass::Approvers in
//     process, over the instance's sealed state, with the same checks
//     (keys/approver_attestation.h and the configured EK CA bundle).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "appliance/keys/approver_tpm.h"
#include "core/encoding.h"
#include "core/result.h"
#include "core/secret.h"

namespace sealgate::appliance {

class EnrolmentPeer {
 public:
  virtual ~EnrolmentPeer() = default;
  struct Credential {
    Bytes credentialBlob;   // TPM2B_ID_OBJECT
    Bytes encryptedSecret;  // TPM2B_ENCRYPTED_SECRET
  };
  // Step 2: the device's EK certificate, EK and AK public areas -> a credential.
  virtual Result<Credential> submitDevice(const std::string& name, const ApproverTpm::Device& device) = 0;
  // Step 4: the activated secret and the quote over SHA-256(secret) -> the AK
  // fingerprint the server enrolled.
  virtual Result<std::string> activate(const std::string& name, const Secret& secret,
                                       const ApproverTpm::Quote& quote) = 0;
};

struct EnrolmentOutcome {
  std::string akFingerprint;
  bool akCreated = false;  // false: the AK already at the handle was reused
};

// Steps 2-4 for the pending enrolment `name` whose PCR selection is `pcrs`:
// the AK at `akHandle` (created if missing), ActivateCredential, the quote over
// SHA-256(secret). Refuses (INTERNAL) when the server enrols another AK
// fingerprint than this TPM's.
Result<EnrolmentOutcome> enrolApproverDevice(ApproverTpm& tpm, EnrolmentPeer& peer, const std::string& name,
                                             const std::vector<unsigned>& pcrs, std::uint32_t akHandle);

}  // namespace sealgate::appliance
