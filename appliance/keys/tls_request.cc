#include "appliance/keys/tls_request.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/openssl_ptr.h"

namespace sealgate::appliance {

namespace {

using ReqPtr = OpensslPtr<X509_REQ, X509_REQ_free>;

Error failed(const std::string& what) {
  ERR_clear_error();
  return makeError(ErrorCode::TlsConfig, what);
}

void freeExtensions(STACK_OF(X509_EXTENSION) * exts) { sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free); }

// `req`'s subject and public key set; adds `san` (may be null), signs with
// `key` inside the HSM and writes PEM.
Result<std::string> signedRequest(X509_REQ* req, X509_EXTENSION* san, EVP_PKEY* key) {
  if (X509_REQ_set_version(req, 0) != 1 || X509_REQ_set_pubkey(req, key) != 1) {
    return failed("cannot build the certificate request");
  }
  // The names clients reach the appliance by.
  if (san != nullptr) {
    OpensslPtr<STACK_OF(X509_EXTENSION), freeExtensions> exts(sk_X509_EXTENSION_new_null());
    X509_EXTENSION* copy = X509_EXTENSION_dup(san);
    if (!exts || copy == nullptr || sk_X509_EXTENSION_push(exts.get(), copy) <= 0) {
      X509_EXTENSION_free(copy);
      return failed("cannot copy the subject alternative names");
    }
    if (X509_REQ_add_extensions(req, exts.get()) != 1) return failed("cannot add the subject alternative names");
  }
  // Signed inside the HSM: proof that the key is there.
  if (X509_REQ_sign(req, key, EVP_sha256()) <= 0) return failed("the HSM could not sign the request");
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_X509_REQ(out.get(), req) != 1) return failed("cannot write the request");
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

Result<std::string> tlsCertificateRequest(const std::string& currentCertFile, EVP_PKEY* newKey) {
  X509Ptr cert;
  {
    BioPtr in(BIO_new_file(currentCertFile.c_str(), "r"));
    if (in) cert.reset(PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr));
  }
  if (!cert) return failed("cannot read the certificate in use, " + currentCertFile);
  ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_subject_name(req.get(), X509_get_subject_name(cert.get())) != 1) {
    return failed("cannot build the certificate request");
  }
  return signedRequest(req.get(), X509_get_ext(cert.get(), X509_get_ext_by_NID(cert.get(), NID_subject_alt_name, -1)),
                       newKey);
}

Result<std::string> tlsCertificateRequest(const std::string& commonName, const std::string& subjectAltNames,
                                          EVP_PKEY* key) {
  if (commonName.empty() || commonName.size() > 64) return failed("the common name must be 1-64 characters");
  ReqPtr req(X509_REQ_new());
  X509_NAME* name = req ? X509_REQ_get_subject_name(req.get()) : nullptr;
  if (name == nullptr ||
      X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(commonName.c_str()), -1, -1, 0) != 1) {
    return failed("cannot set the common name");
  }
  X509ExtensionPtr san;
  if (!subjectAltNames.empty()) {
    san.reset(X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, subjectAltNames.c_str()));
    if (!san) return failed("the subject alternative names do not parse: " + subjectAltNames);
  }
  return signedRequest(req.get(), san.get(), key);
}

}  // namespace sealgate::appliance
