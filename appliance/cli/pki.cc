#include "appliance/cli/pki.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

namespace sealgate::appliance {
namespace {

Error pkiError(const std::string& what) {
  std::string detail;
  if (unsigned long e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    detail = std::string(": ") + buf;
  }
  ERR_clear_error();
  return makeError(ErrorCode::PkiError, what + detail);
}

bool addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext) return false;
  return X509_add_ext(cert, ext.get(), -1) == 1;
}

Result<X509Ptr> newCertificate(EVP_PKEY* subjectKey, const std::string& commonName, int days) {
  X509Ptr cert(X509_new());
  if (!cert) return pkiError("X509_new");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  BignumPtr bn(BN_bin2bn(serial, sizeof serial, nullptr));
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("sealgate dev"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(commonName.c_str()), -1,
                             -1, 0);
  if (X509_set_pubkey(cert.get(), subjectKey) != 1) return pkiError("X509_set_pubkey");
  return cert;
}

}  // namespace

Result<EvpPkeyPtr> generateP256Key() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) return pkiError("EVP_EC_gen");
  return EvpPkeyPtr(key);
}

Result<EvpPkeyPtr> publicKeyFromSpki(const Bytes& spkiDer) {
  const unsigned char* p = spkiDer.data();
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, static_cast<long>(spkiDer.size()));
  if (key == nullptr) return pkiError("d2i_PUBKEY");
  return EvpPkeyPtr(key);
}

Result<X509Ptr> makeSelfSignedCa(EVP_PKEY* caKey, const std::string& commonName, int days) {
  auto cert = newCertificate(caKey, commonName, days);
  if (!cert) return cert;
  X509* c = cert->get();
  X509_set_issuer_name(c, X509_get_subject_name(c));
  if (!addExtension(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      !addExtension(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !addExtension(c, c, NID_subject_key_identifier, "hash")) {
    return pkiError("CA extensions");
  }
  if (X509_sign(c, caKey, EVP_sha256()) == 0) return pkiError("X509_sign");
  return cert;
}

Result<X509Ptr> issueCertificate(X509* ca, EVP_PKEY* caKey, EVP_PKEY* subjectKey, const std::string& commonName,
                                 const std::string& subjectAltNames, bool serverAuth, int days) {
  auto cert = newCertificate(subjectKey, commonName, days);
  if (!cert) return cert;
  X509* c = cert->get();
  X509_set_issuer_name(c, X509_get_subject_name(ca));
  if (!addExtension(c, ca, NID_basic_constraints, "critical,CA:FALSE") ||
      !addExtension(c, ca, NID_key_usage, "critical,digitalSignature") ||
      !addExtension(c, ca, NID_ext_key_usage, serverAuth ? "serverAuth" : "clientAuth") ||
      !addExtension(c, ca, NID_subject_key_identifier, "hash") ||
      !addExtension(c, ca, NID_authority_key_identifier, "keyid") ||
      !addExtension(c, ca, NID_subject_alt_name, subjectAltNames)) {
    return pkiError("certificate extensions");
  }
  if (X509_sign(c, caKey, EVP_sha256()) == 0) return pkiError("X509_sign");
  return cert;
}

Result<void> writeCertificatePem(const std::string& path, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return makeError(ErrorCode::PkiError, "cannot write " + path);
  const bool ok = PEM_write_X509(f, cert) == 1;
  std::fclose(f);
  if (!ok) return pkiError("PEM_write_X509");
  return Ok{};
}

Result<void> writePrivateKeyPem(const std::string& path, EVP_PKEY* key) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return makeError(ErrorCode::PkiError, "cannot write " + path);
  FILE* f = fdopen(fd, "w");
  if (f == nullptr) {
    ::close(fd);
    return makeError(ErrorCode::PkiError, "cannot write " + path);
  }
  const bool ok = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  std::fclose(f);
  if (!ok) return pkiError("PEM_write_PrivateKey");
  return Ok{};
}

namespace {

Result<void> writePrivateFile(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return makeError(ErrorCode::PkiError, "cannot write " + path);
  const bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  ::close(fd);
  if (!ok) return makeError(ErrorCode::PkiError, "cannot write " + path);
  return Ok{};
}

}  // namespace

Result<void> writePkcs12(const std::string& path, const std::string& friendlyName, EVP_PKEY* key, X509* cert,
                         X509* ca) {
  Bytes random(18);
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) return pkiError("RAND_bytes");
  const std::string password = base64UrlNoPad(random);
  std::unique_ptr<STACK_OF(X509), decltype([](STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); })> chain(
      sk_X509_new_null());
  if (!chain || X509_up_ref(ca) != 1) return pkiError("sk_X509_new_null");
  if (sk_X509_push(chain.get(), ca) == 0) {
    X509_free(ca);
    return pkiError("sk_X509_push");
  }
  std::unique_ptr<PKCS12, decltype(&PKCS12_free)> p12(
      PKCS12_create(password.c_str(), friendlyName.c_str(), key, cert, chain.get(), 0, 0, 0, 0, 0), PKCS12_free);
  if (!p12) return pkiError("PKCS12_create");
  unsigned char* der = nullptr;
  const int len = i2d_PKCS12(p12.get(), &der);
  if (len <= 0) return pkiError("i2d_PKCS12");
  std::string bytes(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  SEALGATE_TRY(writePrivateFile(path, bytes));
  return writePrivateFile(path + ".pass", password + "\n");
}

Result<X509Ptr> readCertificatePem(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return makeError(ErrorCode::PkiError, "cannot read " + path);
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) return pkiError("PEM_read_X509 " + path);
  return X509Ptr(cert);
}

Result<EvpPkeyPtr> readPrivateKeyPem(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return makeError(ErrorCode::PkiError, "cannot read " + path);
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (key == nullptr) return pkiError("PEM_read_PrivateKey " + path);
  return EvpPkeyPtr(key);
}

Result<AdminIdentity> adminIdentityOfCertificate(const std::string& certPemPath) {
  SEALGATE_ASSIGN_OR_RETURN(auto cert, readCertificatePem(certPemPath));
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  std::vector<std::string> spiffe;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_URI) continue;
    const auto* s = gn->d.uniformResourceIdentifier;
    std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                  static_cast<std::size_t>(ASN1_STRING_length(s)));
    if (v.rfind("spiffe://", 0) == 0) spiffe.push_back(std::move(v));
  }
  if (spiffe.size() != 1) {
    return makeError(ErrorCode::PkiError, certPemPath + " does not carry exactly one spiffe:// SAN URI");
  }
  static const std::string kPrefix = "spiffe://sealgate-admin/";
  AdminIdentity id{spiffe[0], "", ""};
  const auto slash = id.spiffeId.find('/', kPrefix.size());
  if (id.spiffeId.rfind(kPrefix, 0) != 0 || slash == std::string::npos || slash == kPrefix.size() ||
      slash + 1 == id.spiffeId.size() || id.spiffeId.find('/', slash + 1) != std::string::npos) {
    return makeError(ErrorCode::PkiError,
                     certPemPath + " is not an admin-listener certificate (spiffe://sealgate-admin/<role>/<name>)");
  }
  id.role = id.spiffeId.substr(kPrefix.size(), slash - kPrefix.size());
  id.name = id.spiffeId.substr(slash + 1);
  return id;
}

}  // namespace sealgate::appliance
