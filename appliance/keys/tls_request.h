// Certificate signing requests for the HSM's TLS key: at the key ceremony (a
// subject and names given by the operator) and at a rotation (those of the
// certificate in use). The key's public half, signed by the key inside the HSM
// (proof of possession). OpenSSL builds them; nothing here is hand-written DER.
#pragma once

#include <openssl/evp.h>

#include <string>
#include <vector>

#include "core/result.h"

namespace sealgate::appliance {

// PEM "CERTIFICATE REQUEST". TLS_CONFIG when `currentCertFile` cannot be read
// or the request cannot be signed.
Result<std::string> tlsCertificateRequest(const std::string& currentCertFile, EVP_PKEY* newKey);

// PEM "CERTIFICATE REQUEST" for CN=`commonName` with `subjectAltNames` in
// OpenSSL's syntax ("DNS:sealgate.example,IP:192.0.2.7"; empty: none).
// TLS_CONFIG for a malformed name or a failed signature.
Result<std::string> tlsCertificateRequest(const std::string& commonName, const std::string& subjectAltNames,
                                          EVP_PKEY* key);

}  // namespace sealgate::appliance
