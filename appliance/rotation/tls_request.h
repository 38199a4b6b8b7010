// The certificate signing request of a rotated TLS key (docs/RUNBOOK.md, "Key
// rotation"): the subject and subject alternative names of the certificate in
// use, the new key's public half, signed by that key inside the HSM (proof of
// possession). OpenSSL builds it; nothing here is hand-written DER.
#pragma once

#include <openssl/evp.h>

#include <string>

#include "core/result.h"

namespace sealgate::appliance {

// PEM "CERTIFICATE REQUEST". TLS_CONFIG when `currentCertFile` cannot be read
// or the request cannot be signed.
Result<std::string> tlsCertificateRequest(const std::string& currentCertFile, EVP_PKEY* newKey);

}  // namespace sealgate::appliance
