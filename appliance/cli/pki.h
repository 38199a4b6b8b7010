// Development PKI for `sealgate dev-init`: a CA, a server certificate for the
// HSM-held TLS key, and client certificates with SPIFFE SAN URIs.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "core/encoding.h"
#include "core/openssl_ptr.h"
#include "core/result.h"

namespace sealgate::appliance {

using sealgate::EvpPkeyPtr;
using sealgate::X509Ptr;

Result<EvpPkeyPtr> generateP256Key();
Result<EvpPkeyPtr> publicKeyFromSpki(const Bytes& spkiDer);
Result<X509Ptr> makeSelfSignedCa(EVP_PKEY* caKey, const std::string& commonName, int days);
// `subjectAltNames` in OpenSSL's syntax: "DNS:localhost,IP:127.0.0.1" or "URI:spiffe://acme/payments".
Result<X509Ptr> issueCertificate(X509* ca, EVP_PKEY* caKey, EVP_PKEY* subjectKey, const std::string& commonName,
                                 const std::string& subjectAltNames, bool serverAuth, int days);

Result<void> writeCertificatePem(const std::string& path, X509* cert);
// Private keys are written 0600.
Result<void> writePrivateKeyPem(const std::string& path, EVP_PKEY* key);
// A PKCS#12 file of `key`, `cert` and the CA, for importing into a browser (the
// admin web UI), protected by a fresh random password written to
// `path` + ".pass"; both files 0600 (OpenSSL 3's defaults: AES-256-CBC, PBKDF2,
// HMAC-SHA256 MAC).
Result<void> writePkcs12(const std::string& path, const std::string& friendlyName, EVP_PKEY* key, X509* cert, X509* ca);
Result<X509Ptr> readCertificatePem(const std::string& path);
Result<EvpPkeyPtr> readPrivateKeyPem(const std::string& path);

// The admin-listener identity a client certificate carries: its one spiffe://
// SAN URI, spiffe://sealgate-admin/<role>/<name>. PKI_ERROR for an unreadable
// file, no or several spiffe:// URIs, or another trust domain or shape.
struct AdminIdentity {
  std::string spiffeId;
  std::string role;
  std::string name;
};
Result<AdminIdentity> adminIdentityOfCertificate(const std::string& certPemPath);

}  // namespace sealgate::appliance
