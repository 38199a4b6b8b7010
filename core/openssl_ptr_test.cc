#include "core/openssl_ptr.h"

#include <gtest/gtest.h>
#include <openssl/ecdsa.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/jws.h"
#include "core/p256_spki.h"

namespace sealgate {
namespace {

// The deleter is empty: the pointers are as small as raw ones.
static_assert(sizeof(EvpPkeyPtr) == sizeof(EVP_PKEY*));
static_assert(sizeof(EcdsaSigPtr) == sizeof(ECDSA_SIG*));
static_assert(!std::is_copy_constructible_v<BioPtr>);
static_assert(std::is_nothrow_move_constructible_v<X509Ptr>);

TEST(OpensslPtr, OwnsAndFrees) {
  // Leaks or double frees here show up under ASan (the asan preset).
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  ASSERT_TRUE(key);
  EvpMdCtxPtr md(EVP_MD_CTX_new());
  ASSERT_TRUE(md);
  EvpPkeyCtxPtr pctx(EVP_PKEY_CTX_new(key.get(), nullptr));
  ASSERT_TRUE(pctx);
  EvpCipherCtxPtr cipher(EVP_CIPHER_CTX_new());
  ASSERT_TRUE(cipher);
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_TRUE(bio);
  X509Ptr cert(X509_new());
  ASSERT_TRUE(cert);
  X509StorePtr store(X509_STORE_new());
  ASSERT_TRUE(store);
  X509StoreCtxPtr storeCtx(X509_STORE_CTX_new());
  ASSERT_TRUE(storeCtx);
  X509CrlPtr crl(X509_CRL_new());
  ASSERT_TRUE(crl);
  GeneralNamesPtr names(GENERAL_NAMES_new());
  ASSERT_TRUE(names);
  BnCtxPtr bnCtx(BN_CTX_new());
  ASSERT_TRUE(bnCtx);
  EcGroupPtr group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  ASSERT_TRUE(group);
  EcPointPtr point(EC_POINT_new(group.get()));
  ASSERT_TRUE(point);
  EcKeyPtr ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  ASSERT_TRUE(ec);
  OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
  ASSERT_TRUE(bld);
  ASSERT_EQ(OSSL_PARAM_BLD_push_utf8_string(bld.get(), "group", "prime256v1", 0), 1);
  OsslParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  ASSERT_TRUE(params);

  // Ownership handed to another object: release, never free twice.
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BignumPtr r(BN_new()), s(BN_new());
  ASSERT_TRUE(sig && r && s);
  ASSERT_EQ(BN_set_word(r.get(), 1), 1);
  ASSERT_EQ(BN_set_word(s.get(), 2), 1);
  ASSERT_EQ(ECDSA_SIG_set0(sig.get(), r.release(), s.release()), 1);
  EXPECT_TRUE(BN_is_one(ECDSA_SIG_get0_r(sig.get())));

  EvpPkeyPtr moved = std::move(key);
  EXPECT_FALSE(key);  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(moved);
  moved.reset();
  EXPECT_FALSE(moved);
}

TEST(P256Spki, TheFixedLayoutIsWhatOpensslEncodes) {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  ASSERT_TRUE(key);
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key.get(), &der);
  ASSERT_GT(len, 0);
  std::vector<std::uint8_t> spki(der, der + len);
  OPENSSL_free(der);
  ASSERT_EQ(spki.size(), kP256SpkiBytes);
  EXPECT_TRUE(std::equal(kP256SpkiPrefix.begin(), kP256SpkiPrefix.end(), spki.begin()));
  EXPECT_EQ(spki[kP256SpkiPrefix.size()], 0x04);
  // ecP256Spki rebuilds the same bytes from the point.
  const EcPublicJwk jwk{Bytes(spki.begin() + kP256SpkiPointOffset, spki.begin() + kP256SpkiPointOffset + 32),
                        Bytes(spki.begin() + kP256SpkiPointOffset + 32, spki.end())};
  EXPECT_EQ(ecP256Spki(jwk), Bytes(spki.begin(), spki.end()));
  // The curve OID is the AlgorithmIdentifier's parameter.
  const std::uint8_t* p = kP256CurveOid.data();
  ASN1_OBJECT* oid = d2i_ASN1_OBJECT(nullptr, &p, static_cast<long>(kP256CurveOid.size()));
  ASSERT_NE(oid, nullptr);
  EXPECT_EQ(OBJ_obj2nid(oid), NID_X9_62_prime256v1);
  ASN1_OBJECT_free(oid);
}

}  // namespace
}  // namespace sealgate
