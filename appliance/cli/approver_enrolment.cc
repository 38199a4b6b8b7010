#include "appliance/cli/approver_enrolment.h"

#include <openssl/sha.h>

namespace sealgate::appliance {

Result<EnrolmentOutcome> enrolApproverDevice(ApproverTpm& tpm, EnrolmentPeer& peer, const std::string& name,
                                             const std::vector<unsigned>& pcrs, std::uint32_t akHandle) {
  SEALGATE_ASSIGN_OR_RETURN(auto device, tpm.device(akHandle));
  SEALGATE_ASSIGN_OR_RETURN(auto credential, peer.submitDevice(name, device));
  SEALGATE_ASSIGN_OR_RETURN(auto secret,
                            tpm.activateCredential(credential.credentialBlob, credential.encryptedSecret, akHandle));
  Bytes challenge(SHA256_DIGEST_LENGTH);
  const auto bytes = secret.exposeSecretBytes();
  SHA256(bytes.data(), bytes.size(), challenge.data());
  SEALGATE_ASSIGN_OR_RETURN(auto quote, tpm.quote(challenge, pcrs, akHandle));
  SEALGATE_ASSIGN_OR_RETURN(auto enrolled, peer.activate(name, secret, quote));
  if (enrolled != device.akFingerprint) {
    return makeError(ErrorCode::Internal, "the server enrolled AK " + enrolled + ", but this TPM's AK is " +
                                              device.akFingerprint + ": remove the approver and enrol again");
  }
  return EnrolmentOutcome{std::move(device.akFingerprint), device.akCreated};
}

}  // namespace sealgate::appliance
