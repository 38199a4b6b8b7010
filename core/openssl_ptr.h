// Owning pointers for the OpenSSL objects the project uses: one alias per type,
// each freed by its own *_free, so no call site frees by hand.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>

namespace sealgate {

// Calls `Free` on a non-null pointer (unique_ptr never passes null).
template <auto Free>
struct OpensslDeleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

template <typename T, auto Free>
using OpensslPtr = std::unique_ptr<T, OpensslDeleter<Free>>;

using EvpPkeyPtr = OpensslPtr<EVP_PKEY, EVP_PKEY_free>;
using EvpPkeyCtxPtr = OpensslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using EvpMdCtxPtr = OpensslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using EvpCipherCtxPtr = OpensslPtr<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using BioPtr = OpensslPtr<BIO, BIO_free>;
using X509Ptr = OpensslPtr<X509, X509_free>;
using X509ExtensionPtr = OpensslPtr<X509_EXTENSION, X509_EXTENSION_free>;
using X509StorePtr = OpensslPtr<X509_STORE, X509_STORE_free>;
using X509StoreCtxPtr = OpensslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using X509CrlPtr = OpensslPtr<X509_CRL, X509_CRL_free>;
using GeneralNamesPtr = OpensslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
using EcdsaSigPtr = OpensslPtr<ECDSA_SIG, ECDSA_SIG_free>;
using BignumPtr = OpensslPtr<BIGNUM, BN_free>;
using BnCtxPtr = OpensslPtr<BN_CTX, BN_CTX_free>;
using EcKeyPtr = OpensslPtr<EC_KEY, EC_KEY_free>;  // legacy API, kept for the fast P-256 verify path
using EcPointPtr = OpensslPtr<EC_POINT, EC_POINT_free>;
using EcGroupPtr = OpensslPtr<EC_GROUP, EC_GROUP_free>;
using OsslParamBldPtr = OpensslPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using OsslParamPtr = OpensslPtr<OSSL_PARAM, OSSL_PARAM_free>;

}  // namespace sealgate
