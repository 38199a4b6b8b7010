// The HSM-held signing keys of the grant authority and the audit log, read from
// the key store: their public halves, and signing by label inside the HSM.
#pragma once

#include <string>

#include "appliance/audit/audit_log.h"
#include "appliance/grants/grants.h"
#include "hsm/key_store.h"

namespace sealgate::appliance {

// Every sealgate-grant-es256-vN key (P-256); signing gives r || s (JWS ES256).
Result<GrantSigningKeys> grantSigningKeys(hsm::KeyStore& keys);

// The checkpoint signer over `<prefix>-v<active>` (DER signatures, C2SP notes).
Result<CheckpointSigner> hsmCheckpointSigner(hsm::KeyStore& keys, const std::string& prefix);

}  // namespace sealgate::appliance
