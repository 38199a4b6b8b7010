#include "appliance/rotation/tls_request.h"

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

}  // namespace

Result<std::string> tlsCertificateRequest(const std::string& currentCertFile, EVP_PKEY* newKey) {
  X509Ptr cert;
  {
    BioPtr in(BIO_new_file(currentCertFile.c_str(), "r"));
    if (in) cert.reset(PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr));
  }
  if (!cert) return failed("cannot read the certificate in use, " + currentCertFile);
  ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1 ||
      X509_REQ_set_subject_name(req.get(), X509_get_subject_name(cert.get())) != 1 ||
      X509_REQ_set_pubkey(req.get(), newKey) != 1) {
    return failed("cannot build the certificate request");
  }
  // The names clients reach the appliance by: the certificate's SANs, unchanged.
  if (X509_EXTENSION* san = X509_get_ext(cert.get(), X509_get_ext_by_NID(cert.get(), NID_subject_alt_name, -1))) {
    OpensslPtr<STACK_OF(X509_EXTENSION), freeExtensions> exts(sk_X509_EXTENSION_new_null());
    X509_EXTENSION* copy = X509_EXTENSION_dup(san);
    if (!exts || copy == nullptr || sk_X509_EXTENSION_push(exts.get(), copy) <= 0) {
      X509_EXTENSION_free(copy);
      return failed("cannot copy the subject alternative names");
    }
    if (X509_REQ_add_extensions(req.get(), exts.get()) != 1) return failed("cannot add the subject alternative names");
  }
  // Signed inside the HSM: proof that the new key is there.
  if (X509_REQ_sign(req.get(), newKey, EVP_sha256()) <= 0) return failed("the HSM could not sign the request");
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_X509_REQ(out.get(), req.get()) != 1) return failed("cannot write the request");
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace sealgate::appliance
