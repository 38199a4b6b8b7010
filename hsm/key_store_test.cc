#include "hsm/key_store.h"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "core/openssl_ptr.h"
#include "hsm/pkcs11_module.h"
#include "hsm/tls_engine.h"
#include "tests/support/temp_token.h"

namespace sealgate::hsm {
namespace {

using sealgate::testing::openFreshToken;

Bytes bytesOf(std::string_view s) { return Bytes(s.begin(), s.end()); }

bool opensslVerifyDer(const Bytes& spki, std::string_view msg, const Bytes& der) {
  const unsigned char* p = spki.data();
  EvpPkeyPtr pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!pkey || !ctx) return false;
  return EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), der.data(), der.size(), reinterpret_cast<const unsigned char*>(msg.data()),
                          msg.size()) == 1;
}

Bytes rawToDer(const Bytes& raw) {
  EcdsaSigPtr sig(ECDSA_SIG_new());
  ECDSA_SIG_set0(sig.get(), BN_bin2bn(raw.data(), 32, nullptr), BN_bin2bn(raw.data() + 32, 32, nullptr));
  Bytes der(static_cast<std::size_t>(i2d_ECDSA_SIG(sig.get(), nullptr)));
  unsigned char* q = der.data();
  i2d_ECDSA_SIG(sig.get(), &q);
  return der;
}

class KeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    label_ = "ks-" + std::to_string(::getpid() % 10000) + "-" + std::to_string(++counter);
    ks_ = openFreshToken(label_);
  }
  // Reads an attribute's raw CK_RV through the PKCS#11 function list, to prove
  // what the token itself refuses (not what our API happens not to offer).
  CK_RV rawGetValue(const std::string& keyLabel, CK_OBJECT_CLASS cls) {
    auto session = sealgate::testing::openRawSession(*ks_);
    if (!session) {
      ADD_FAILURE() << session.error().describe();
      return CKR_OK;
    }
    auto h = findObjectByLabel(ks_->functions(), session->handle(), keyLabel, cls);
    if (!h) {
      ADD_FAILURE() << h.error().describe();
      return CKR_OK;
    }
    std::uint8_t buf[512];
    CK_ATTRIBUTE a{CKA_VALUE, buf, sizeof buf};
    return ks_->functions()->C_GetAttributeValue(session->handle(), *h, &a, 1);
  }
  std::string label_;
  std::unique_ptr<KeyStore> ks_;
};

TEST_F(KeyStoreTest, GeneratedKeysCarryExplicitRestrictiveAttributes) {
  ASSERT_TRUE(ks_->generateHmacKey("h-v1").ok());
  ASSERT_TRUE(ks_->generateEcP256Key("e-v1").ok());
  ASSERT_TRUE(ks_->generateAes256Key("a-v1").ok());

  auto h = ks_->keyInfo("h-v1");
  ASSERT_TRUE(h.ok()) << h.error().describe();
  EXPECT_EQ(h->kind, KeyKind::HmacSha256);
  EXPECT_EQ(h->bits, 256u);
  for (const char* on : {"TOKEN", "PRIVATE", "SENSITIVE", "ALWAYS_SENSITIVE", "NEVER_EXTRACTABLE", "SIGN", "VERIFY"})
    EXPECT_TRUE(h->attributes.at(on)) << on;
  for (const char* off : {"EXTRACTABLE", "ENCRYPT", "DECRYPT", "WRAP", "UNWRAP", "DERIVE", "MODIFIABLE", "COPYABLE"})
    EXPECT_FALSE(h->attributes.at(off)) << off;

  auto e = ks_->keyInfo("e-v1");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->kind, KeyKind::EcP256);
  for (const char* on : {"TOKEN", "PRIVATE", "SENSITIVE", "NEVER_EXTRACTABLE", "SIGN"})
    EXPECT_TRUE(e->attributes.at(on)) << on;
  for (const char* off : {"EXTRACTABLE", "DECRYPT", "UNWRAP", "DERIVE", "MODIFIABLE", "COPYABLE"})
    EXPECT_FALSE(e->attributes.at(off)) << off;

  auto a = ks_->keyInfo("a-v1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, KeyKind::Aes256);
  EXPECT_EQ(a->bits, 256u);
  for (const char* on : {"SENSITIVE", "NEVER_EXTRACTABLE", "ENCRYPT", "DECRYPT"})
    EXPECT_TRUE(a->attributes.at(on)) << on;
  for (const char* off : {"EXTRACTABLE", "SIGN", "VERIFY", "WRAP", "UNWRAP", "DERIVE", "MODIFIABLE", "COPYABLE"})
    EXPECT_FALSE(a->attributes.at(off)) << off;
}

TEST_F(KeyStoreTest, GeneratedKeysCannotBeExtracted) {
  ASSERT_TRUE(ks_->generateHmacKey("h-v1").ok());
  ASSERT_TRUE(ks_->generateEcP256Key("e-v1").ok());
  ASSERT_TRUE(ks_->generateAes256Key("a-v1").ok());
  EXPECT_EQ(rawGetValue("h-v1", CKO_SECRET_KEY), CKR_ATTRIBUTE_SENSITIVE);
  EXPECT_EQ(rawGetValue("a-v1", CKO_SECRET_KEY), CKR_ATTRIBUTE_SENSITIVE);
  EXPECT_EQ(rawGetValue("e-v1", CKO_PRIVATE_KEY), CKR_ATTRIBUTE_SENSITIVE);

  // Wrapping is refused too, even under a key that is allowed to wrap.
  auto session = sealgate::testing::openRawSession(*ks_);
  ASSERT_TRUE(session.ok()) << session.error().describe();
  CK_FUNCTION_LIST* f = ks_->functions();
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ULONG len = 32;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},
                         {CKA_KEY_TYPE, &type, sizeof type},
                         {CKA_VALUE_LEN, &len, sizeof len},
                         {CKA_TOKEN, &no, 1},
                         {CKA_WRAP, &yes, 1},
                         {CKA_ENCRYPT, &yes, 1}};
  CK_MECHANISM gen{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE wrapper = 0;
  ASSERT_EQ(f->C_GenerateKey(session->handle(), &gen, tmpl, 6, &wrapper), CKR_OK);
  for (auto [label, kcls] :
       {std::pair{"h-v1", CKO_SECRET_KEY}, std::pair{"a-v1", CKO_SECRET_KEY}, std::pair{"e-v1", CKO_PRIVATE_KEY}}) {
    auto target = findObjectByLabel(f, session->handle(), label, kcls);
    ASSERT_TRUE(target.ok());
    CK_MECHANISM wrapMech{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
    std::uint8_t out[512];
    CK_ULONG outLen = sizeof out;
    CK_RV rv = f->C_WrapKey(session->handle(), &wrapMech, wrapper, *target, out, &outLen);
    EXPECT_NE(rv, CKR_OK) << label;
    // Nor can the attribute be flipped back on.
    CK_ATTRIBUTE makeExtractable{CKA_EXTRACTABLE, &yes, 1};
    EXPECT_NE(f->C_SetAttributeValue(session->handle(), *target, &makeExtractable, 1), CKR_OK) << label;
  }
  EXPECT_EQ(rawGetValue("h-v1", CKO_SECRET_KEY), CKR_ATTRIBUTE_SENSITIVE);
}

TEST_F(KeyStoreTest, EcdsaSignaturesVerifyWithOpenSsl) {
  ASSERT_TRUE(ks_->generateEcP256Key("grant-v1").ok());
  auto spki = ks_->publicKeyDer("grant-v1");
  ASSERT_TRUE(spki.ok()) << spki.error().describe();
  EXPECT_EQ(spki->size(), 91u);
  for (int i = 0; i < 20; ++i) {
    std::string msg = "message number " + std::to_string(i);
    auto der = ks_->signEcdsaP256("grant-v1", asBytes(msg), SignatureFormat::Der);
    ASSERT_TRUE(der.ok()) << der.error().describe();
    EXPECT_TRUE(opensslVerifyDer(*spki, msg, *der));
    auto raw = ks_->signEcdsaP256("grant-v1", asBytes(msg), SignatureFormat::RawRS);
    ASSERT_TRUE(raw.ok());
    ASSERT_EQ(raw->size(), 64u);
    EXPECT_TRUE(opensslVerifyDer(*spki, msg, rawToDer(*raw)));
    EXPECT_FALSE(opensslVerifyDer(*spki, msg + "x", *der));
  }
}

TEST_F(KeyStoreTest, HmacMatchesOpenSslForAnImportedKey) {
  Bytes key(32);
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(0xa0 + i);
  ASSERT_TRUE(ks_->importHmacKey("imported-v1", *Secret::copyFrom(key)).ok());
  EXPECT_EQ(rawGetValue("imported-v1", CKO_SECRET_KEY), CKR_ATTRIBUTE_SENSITIVE);
  for (const std::string& msg :
       std::vector<std::string>{"", "a", "secret://acme/kv/app/db#password", std::string(5000, 'z')}) {
    auto mac = ks_->hmacSha256("imported-v1", asBytes(msg));
    ASSERT_TRUE(mac.ok()) << mac.error().describe();
    unsigned char expected[32];
    unsigned len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
         msg.size(), expected, &len);
    EXPECT_EQ(Bytes(mac->begin(), mac->end()), Bytes(expected, expected + 32));
  }
}

TEST_F(KeyStoreTest, ResourceRefThroughTheHsm) {
  Bytes key(32, 0x42);
  ASSERT_TRUE(ks_->importHmacKey("sealgate-ref-hmac-v3", *Secret::copyFrom(key)).ok());
  HsmRefMac mac(*ks_, 3);
  ResourceRefs refs(mac, 16);
  const std::string canonical = "secret://acme/kv/app/db#password";
  auto ref = refs.ofCanonical(canonical);
  ASSERT_TRUE(ref.ok());
  Mac256 expected{};
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), 32, reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(),
       expected.data(), &len);
  EXPECT_EQ(*ref, formatResourceRef(3, expected));
}

TEST_F(KeyStoreTest, AesGcmRoundTripAndEveryTamperFails) {
  ASSERT_TRUE(ks_->generateAes256Key("kek-v1").ok());
  const Bytes iv(12, 7), aad = bytesOf("state/v1");
  const Bytes dek(32, 0x5a);
  auto ct = ks_->aesGcmEncrypt("kek-v1", iv, aad, dek);
  ASSERT_TRUE(ct.ok()) << ct.error().describe();
  ASSERT_EQ(ct->size(), 48u);
  auto pt = ks_->aesGcmDecrypt("kek-v1", iv, aad, *ct);
  ASSERT_TRUE(pt.ok()) << pt.error().describe();
  EXPECT_EQ(Bytes(pt->exposeSecretBytes().begin(), pt->exposeSecretBytes().end()), dek);

  Bytes badCt = *ct;
  badCt[0] ^= 1;
  Bytes badTag = *ct;
  badTag.back() ^= 1;
  Bytes badIv = iv;
  badIv[0] ^= 1;
  auto expectAuthFailure = [&](const char* what, const Bytes& ivUsed, const Bytes& aadUsed, const Bytes& ctUsed) {
    auto r = ks_->aesGcmDecrypt("kek-v1", ivUsed, aadUsed, ctUsed);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.error().code, hsm_errc::kDecrypt) << what;
    EXPECT_EQ(r.error().message, "AES-GCM decryption failed") << what;  // no hint which part differed
  };
  expectAuthFailure("ciphertext", iv, aad, badCt);
  expectAuthFailure("tag", iv, aad, badTag);
  expectAuthFailure("aad", iv, bytesOf("state/v2"), *ct);
  expectAuthFailure("iv", badIv, aad, *ct);
  expectAuthFailure("short", iv, aad, Bytes(10));
  EXPECT_EQ(ks_->aesGcmEncrypt("kek-v1", Bytes(16), aad, dek).error().code, hsm_errc::kBadInput);
}

TEST_F(KeyStoreTest, ErrorsCarryCodeOperationAndCkRv) {
  auto missing = ks_->hmacSha256("nope", asBytes("x"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, hsm_errc::kKeyNotFound);

  ASSERT_TRUE(ks_->generateHmacKey("dup").ok());
  EXPECT_EQ(ks_->generateHmacKey("dup").error().code, hsm_errc::kKeyExists);
  EXPECT_EQ(ks_->generateEcP256Key("dup").error().code, hsm_errc::kKeyExists);

  // Using a key for what its flags forbid is refused by the token, with the CK_RV kept.
  ASSERT_TRUE(ks_->generateAes256Key("aes-only").ok());
  auto misuse = ks_->hmacSha256("aes-only", asBytes("x"));
  ASSERT_FALSE(misuse.ok());
  EXPECT_EQ(misuse.error().operation, "C_SignInit");
  EXPECT_NE(misuse.error().native, CKR_OK);
  EXPECT_NE(misuse.error().describe().find("C_SignInit"), std::string::npos);
}

TEST_F(KeyStoreTest, KeySizesTheTokenLacksAreReportedAsUnsupported) {
  // SoftHSM 2.6 makes HMAC keys of 32-512 bytes only.
  auto r = ks_->generateHmacKey("short-v1", 16);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, hsm_errc::kUnsupported);
  // An imported short key is accepted as an object but refused at use.
  ASSERT_TRUE(ks_->importHmacKey("short-imported", *Secret::copyFrom(Bytes(16, 1))).ok());
  auto use = ks_->hmacSha256("short-imported", asBytes("x"));
  ASSERT_FALSE(use.ok());
  EXPECT_EQ(use.error().code, hsm_errc::kUnsupported);
  EXPECT_EQ(use.error().native, CKR_KEY_SIZE_RANGE);
}

TEST_F(KeyStoreTest, ActiveVersionIsTheHighestVn) {
  ASSERT_TRUE(ks_->generateHmacKey("sealgate-ref-hmac-v1").ok());
  ASSERT_TRUE(ks_->generateHmacKey("sealgate-ref-hmac-v2").ok());
  ASSERT_TRUE(ks_->generateHmacKey("sealgate-ref-hmac-v10").ok());
  ASSERT_TRUE(ks_->generateHmacKey("sealgate-ref-hmac-vX").ok());
  ASSERT_TRUE(ks_->generateHmacKey("sealgate-ref-hmac-v07").ok());
  auto v = ks_->activeVersion("sealgate-ref-hmac");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 10u);
  EXPECT_EQ(ks_->activeVersion("sealgate-grant-es256").error().code, hsm_errc::kKeyNotFound);
}

TEST_F(KeyStoreTest, ListKeysShowsFingerprintsNeverValues) {
  Bytes key(32);
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(0x11 * (i % 15 + 1));
  ASSERT_TRUE(ks_->importHmacKey("canary-hmac", *Secret::copyFrom(key)).ok());
  ASSERT_TRUE(ks_->generateEcP256Key("sig-v1").ok());
  ASSERT_TRUE(ks_->generateAes256Key("kek").ok());
  auto keys = ks_->listKeys();
  ASSERT_TRUE(keys.ok()) << keys.error().describe();
  ASSERT_EQ(keys->size(), 3u);
  EXPECT_EQ((*keys)[0].label, "canary-hmac");
  EXPECT_EQ((*keys)[1].label, "kek");
  EXPECT_EQ((*keys)[2].label, "sig-v1");
  // Key check value: HMAC(key, "sealgate-key-check")[:8].
  unsigned char kcv[32];
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), 32, reinterpret_cast<const unsigned char*>("sealgate-key-check"), 18, kcv, &len);
  EXPECT_EQ((*keys)[0].fingerprint, "kcv:" + hexLower(std::span(kcv, 8)));
  EXPECT_EQ((*keys)[1].fingerprint.rfind("kcv:", 0), 0u);
  EXPECT_EQ((*keys)[2].fingerprint.size(), 7u + 64u);
  for (const auto& k : *keys) {
    EXPECT_EQ(k.fingerprint.find(hexLower(key)), std::string::npos);
    EXPECT_EQ(k.fingerprint.find(hexLower(std::span(key.data(), 8))), std::string::npos);
  }
}

TEST_F(KeyStoreTest, StaleCachedHandleIsLookedUpAgain) {
  ASSERT_TRUE(ks_->importHmacKey("rot", *Secret::copyFrom(Bytes(32, 1))).ok());
  auto first = ks_->hmacSha256("rot", asBytes("m"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(ks_->destroyKey("rot").ok());
  EXPECT_EQ(ks_->hmacSha256("rot", asBytes("m")).error().code, hsm_errc::kKeyNotFound);
  ASSERT_TRUE(ks_->importHmacKey("rot", *Secret::copyFrom(Bytes(32, 2))).ok());
  auto second = ks_->hmacSha256("rot", asBytes("m"));
  ASSERT_TRUE(second.ok()) << second.error().describe();
  EXPECT_NE(*first, *second);
}

TEST_F(KeyStoreTest, SessionPoolIsSafeUnderConcurrency) {
  ASSERT_TRUE(ks_->importHmacKey("conc", *Secret::copyFrom(Bytes(32, 9))).ok());
  ASSERT_TRUE(ks_->generateEcP256Key("conc-ec").ok());
  const auto expected = *ks_->hmacSha256("conc", asBytes("same input"));
  std::atomic<int> failures{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        auto mac = ks_->hmacSha256("conc", asBytes("same input"));
        if (!mac.ok() || *mac != expected) ++failures;
        if (i % 10 == 0 && !ks_->signEcdsaP256("conc-ec", asBytes("x"), SignatureFormat::RawRS).ok()) ++failures;
        ++done;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(done.load(), 800);
  auto st = ks_->status();
  ASSERT_TRUE(st.ok());
  EXPECT_LE(st->openSessions, ks_->config().maxSessions);
  EXPECT_TRUE(st->loggedIn);
  EXPECT_EQ(st->tokenLabel, label_);
}

// The keys Appliance::readiness expects, in its order.
const std::vector<ExpectedKey> kReadinessKeys = {
    {"sealgate-ref-hmac-v1", KeyKind::HmacSha256},
    {"sealgate-kek", KeyKind::Aes256},
    {"sealgate-tls", KeyKind::EcP256},
    {"sealgate-grant-es256", KeyKind::EcP256, ExpectedKey::Match::AnyVersion},
    {"sealgate-audit-es256", KeyKind::EcP256, ExpectedKey::Match::AnyVersion},
};

class KeyStoreHealthTest : public KeyStoreTest {
 protected:
  void SetUp() override {
    KeyStoreTest::SetUp();
    ASSERT_TRUE(ks_->generateHmacKey("sealgate-ref-hmac-v1").ok());
    ASSERT_TRUE(ks_->generateAes256Key("sealgate-kek").ok());
    ASSERT_TRUE(ks_->generateEcP256Key("sealgate-tls").ok());
    ASSERT_TRUE(ks_->generateEcP256Key("sealgate-grant-es256-v2").ok());
    ASSERT_TRUE(ks_->generateEcP256Key("sealgate-audit-es256-v1").ok());
  }
  // Deletes a key behind the store's back, so a handle it cached stays cached.
  void destroyRaw(const std::string& keyLabel, CK_OBJECT_CLASS cls) {
    auto session = sealgate::testing::openRawSession(*ks_);
    ASSERT_TRUE(session.ok()) << session.error().describe();
    auto h = findObjectByLabel(ks_->functions(), session->handle(), keyLabel, cls);
    ASSERT_TRUE(h.ok()) << h.error().describe();
    ASSERT_EQ(ks_->functions()->C_DestroyObject(session->handle(), *h), CKR_OK);
  }
  CK_SLOT_ID slot() {
    auto module = Pkcs11Module::load(ks_->config().modulePath);
    EXPECT_TRUE(module.ok());
    auto slot = (*module)->findToken(label_);
    EXPECT_TRUE(slot.ok());
    return slot.ok() ? *slot : 0;
  }
};

TEST_F(KeyStoreHealthTest, EveryExpectedKeyPresentIsHealthy) {
  auto h = ks_->health(kReadinessKeys);
  ASSERT_TRUE(h.ok()) << h.error().describe();
  EXPECT_TRUE(h->healthy());
  EXPECT_EQ(h->missing, std::vector<std::string>{});
}

TEST_F(KeyStoreHealthTest, ADeletedKeyIsMissingEvenWhileItsHandleIsCached) {
  // Use the KEK so its handle is cached, then delete it past the cache.
  ASSERT_TRUE(ks_->aesGcmEncrypt("sealgate-kek", Bytes(12), {}, Bytes(32)).ok());
  destroyRaw("sealgate-kek", CKO_SECRET_KEY);
  // The only grant key version goes too: the whole family is missing.
  ASSERT_TRUE(ks_->destroyKey("sealgate-grant-es256-v2").ok());
  auto h = ks_->health(kReadinessKeys);
  ASSERT_TRUE(h.ok()) << h.error().describe();
  EXPECT_FALSE(h->healthy());
  EXPECT_EQ(h->missing, (std::vector<std::string>{"sealgate-kek", "sealgate-grant-es256-vN"}));
}

TEST_F(KeyStoreHealthTest, AKeyOfAnotherKindDoesNotCount) {
  // A secret key under the TLS key's label is not the EC private key expected.
  ASSERT_TRUE(ks_->destroyKey("sealgate-tls").ok());
  ASSERT_TRUE(ks_->generateHmacKey("sealgate-tls").ok());
  auto h = ks_->health(kReadinessKeys);
  ASSERT_TRUE(h.ok()) << h.error().describe();
  EXPECT_EQ(h->missing, std::vector<std::string>{"sealgate-tls"});
}

TEST_F(KeyStoreHealthTest, LoggedOutTokenIsHsmNotLoggedIn) {
  auto session = sealgate::testing::openRawSession(*ks_);
  ASSERT_TRUE(session.ok()) << session.error().describe();
  // Login state is per application: this logs the store's pooled sessions out too.
  ASSERT_EQ(ks_->functions()->C_Logout(session->handle()), CKR_OK);
  auto h = ks_->health(kReadinessKeys);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code, hsm_errc::kNotLoggedIn);
  EXPECT_EQ(h.error().code, ErrorCode::HsmNotLoggedIn);  // the code /readyz reports
}

TEST_F(KeyStoreHealthTest, ClosedSessionsAreAnErrorThenThePoolRecovers) {
  ASSERT_EQ(ks_->functions()->C_CloseAllSessions(slot()), CKR_OK);
  auto h = ks_->health(kReadinessKeys);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code, hsm_errc::kOperation);
  EXPECT_EQ(h.error().native, CKR_SESSION_HANDLE_INVALID);
  // The dead session was dropped; the next one is opened and logged in afresh.
  auto again = ks_->health(kReadinessKeys);
  ASSERT_TRUE(again.ok()) << again.error().describe();
  EXPECT_TRUE(again->healthy());
}

TEST_F(KeyStoreTest, TlsKeyThroughTheEngineSignsInsideTheToken) {
  ASSERT_TRUE(ks_->generateEcP256Key("sealgate-tls").ok());
  auto pin = readPin(ks_->config().pin);
  ASSERT_TRUE(pin.ok());
  auto engine = Pkcs11Engine::load(ks_->config().modulePath, *pin);
  ASSERT_TRUE(engine.ok()) << engine.error().describe();
  auto key = (*engine)->privateKey(label_, "sealgate-tls");
  ASSERT_TRUE(key.ok()) << key.error().describe();
  const std::string msg = "tls transcript";
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  ASSERT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key->get()), 1);
  std::size_t sigLen = 0;
  ASSERT_EQ(EVP_DigestSign(ctx.get(), nullptr, &sigLen, reinterpret_cast<const unsigned char*>(msg.data()), msg.size()),
            1);
  Bytes sig(sigLen);
  ASSERT_EQ(
      EVP_DigestSign(ctx.get(), sig.data(), &sigLen, reinterpret_cast<const unsigned char*>(msg.data()), msg.size()),
      1);
  sig.resize(sigLen);
  EXPECT_TRUE(opensslVerifyDer(*ks_->publicKeyDer("sealgate-tls"), msg, sig));
  EXPECT_EQ((*engine)->privateKey(label_, "no-such-key").error().code, ErrorCode::HsmKeyNotFound);
}

TEST(KeyStoreOpen, WrongPinMissingTokenBadModuleAndUnsafePinFile) {
  auto cfg = sealgate::testing::createToken("open-" + std::to_string(::getpid() % 100000));
  {
    auto good = KeyStore::open(cfg);
    ASSERT_TRUE(good.ok()) << good.error().describe();
  }
  const std::string wrongPin = sealgate::testing::scratchDir() + "/wrong.pin";
  std::ofstream(wrongPin) << "not-the-pin";
  chmod(wrongPin.c_str(), 0600);
  auto wrong = cfg;
  wrong.pin.file = wrongPin;
  auto r = KeyStore::open(wrong);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, hsm_errc::kPin);
  EXPECT_EQ(r.error().native, CKR_PIN_INCORRECT);
  EXPECT_EQ(r.error().operation, "C_Login");

  chmod(wrongPin.c_str(), 0644);
  auto unsafe = KeyStore::open(wrong);
  ASSERT_FALSE(unsafe.ok());
  EXPECT_EQ(unsafe.error().code, hsm_errc::kPin);
  EXPECT_NE(unsafe.error().message.find("chmod 600"), std::string::npos);

  auto viaEnv = cfg;
  viaEnv.pin.file.clear();
  viaEnv.pin.envVar = "SEALGATE_TEST_PIN_UNSET";
  EXPECT_EQ(KeyStore::open(viaEnv).error().code, hsm_errc::kPin);
  {
    std::ifstream in(cfg.pin.file);
    std::string pin;
    std::getline(in, pin);
    setenv("SEALGATE_TEST_PIN", pin.c_str(), 1);
  }
  viaEnv.pin.envVar = "SEALGATE_TEST_PIN";
  EXPECT_TRUE(KeyStore::open(viaEnv).ok());
  auto both = cfg;
  both.pin.envVar = "SEALGATE_TEST_PIN";
  EXPECT_EQ(KeyStore::open(both).error().code, hsm_errc::kPin);

  auto noToken = cfg;
  noToken.tokenLabel = "no-such-token";
  EXPECT_EQ(KeyStore::open(noToken).error().code, hsm_errc::kTokenNotFound);

  auto badModule = cfg;
  badModule.modulePath = "/nonexistent/libpkcs11.so";
  EXPECT_EQ(KeyStore::open(badModule).error().code, hsm_errc::kModule);
}

}  // namespace
}  // namespace sealgate::hsm
