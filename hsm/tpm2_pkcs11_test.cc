// The key store, unchanged, against another vendor's module: libtpm2-pkcs11 over a
// software TPM (swtpm). What that token lacks (AES-GCM, HMAC key generation, HMAC
// keys other than 32 bytes) must be reported as HSM_UNSUPPORTED naming what is
// missing, and a key it cannot restrict to signing must not be created at all. Own binary: the module reads its TCTI
// and store from the environment at C_Initialize.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "hsm/key_store.h"
#include "hsm/pkcs11_module.h"
#include "tests/support/swtpm.h"

namespace sealgate::hsm {
namespace {

constexpr const char* kTpmModule = "/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so";

class Tpm2Pkcs11Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/sealgate-tpm-XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl));
    std::filesystem::create_directories(*dir_ + "/store");
    tpm_ = new sealgate::testing::Swtpm(*dir_);
    setenv("TPM2_PKCS11_TCTI", tpm_->tcti().c_str(), 1);
    setenv("TPM2_PKCS11_STORE", (*dir_ + "/store").c_str(), 1);
    setenv("TPM2_PKCS11_LOG_LEVEL", "0", 0);
    auto so = Secret::copyFrom(std::string_view("so-pin-5678"));
    auto user = Secret::copyFrom(std::string_view("user-pin-1234"));
    auto init = initializeToken(kTpmModule, "tpm-token", *so, *user);
    ASSERT_TRUE(init.ok()) << init.error().describe();
    const std::string pinFile = *dir_ + "/pin";
    std::ofstream(pinFile) << "user-pin-1234\n";
    std::filesystem::permissions(pinFile, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    KeyStoreConfig cfg;
    cfg.modulePath = kTpmModule;
    cfg.tokenLabel = "tpm-token";
    cfg.pin.file = pinFile;
    cfg.maxSessions = 2;
    auto ks = KeyStore::open(cfg);
    ASSERT_TRUE(ks.ok()) << ks.error().describe();
    store_ = ks->release();
  }
  static void TearDownTestSuite() {
    delete store_;
    delete tpm_;
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
    delete dir_;
  }
  static std::string* dir_;
  static sealgate::testing::Swtpm* tpm_;
  static KeyStore* store_;
};

std::string* Tpm2Pkcs11Test::dir_ = nullptr;
sealgate::testing::Swtpm* Tpm2Pkcs11Test::tpm_ = nullptr;
KeyStore* Tpm2Pkcs11Test::store_ = nullptr;

TEST_F(Tpm2Pkcs11Test, EcKeysThatCannotBeSignOnlyAreRefusedNotWidened) {
  // libtpm2-pkcs11 makes EC keys that can both sign and decrypt, and rejects a
  // template that restricts them to signing. The key store must refuse, not
  // quietly create a key with more usages than it asked for.
  auto r = store_->generateEcP256Key("tpm-grant-v1");
  ASSERT_FALSE(r.ok());
  // libtpm2-pkcs11 answers CKR_GENERAL_ERROR, so the code stays HSM_ERROR with
  // the CK_RV kept; the message says what was refused.
  EXPECT_EQ(r.error().operation, "C_GenerateKeyPair");
  EXPECT_NE(r.error().native, CKR_OK);
  EXPECT_NE(r.error().message.find("sign-only"), std::string::npos) << r.error().message;
  auto module = Pkcs11Module::load(kTpmModule);
  ASSERT_TRUE(module.ok());
  auto slot = (*module)->findToken("tpm-token");
  ASSERT_TRUE(slot.ok());
  auto session = Pkcs11Session::open((*module)->functions(), *slot);
  ASSERT_TRUE(session.ok()) << session.error().describe();
  EXPECT_EQ(findObjectByLabel((*module)->functions(), session->handle(), "tpm-grant-v1", CKO_PRIVATE_KEY).error().code,
            hsm_errc::kKeyNotFound);
}

TEST_F(Tpm2Pkcs11Test, AesGcmIsReportedUnsupported) {
  EXPECT_FALSE(store_->supportsMechanism(CKM_AES_GCM));
  auto gen = store_->generateAes256Key("tpm-kek");
  ASSERT_FALSE(gen.ok());
  EXPECT_EQ(gen.error().code, hsm_errc::kUnsupported);
  EXPECT_NE(gen.error().message.find("CKM_AES_GCM"), std::string::npos) << gen.error().message;
  const Bytes iv(12), blob(48);
  auto dec = store_->aesGcmDecrypt("tpm-kek", iv, {}, blob);
  ASSERT_FALSE(dec.ok());
  EXPECT_EQ(dec.error().code, hsm_errc::kUnsupported);
}

TEST_F(Tpm2Pkcs11Test, HmacKeyGenerationAndOtherSizesAreReportedUnsupported) {
  for (std::size_t bytes : {16u, 32u, 64u}) {
    auto r = store_->generateHmacKey("tpm-ref-hmac-" + std::to_string(bytes), bytes);
    ASSERT_FALSE(r.ok()) << bytes;
    EXPECT_EQ(r.error().code, hsm_errc::kUnsupported) << bytes << ": " << r.error().describe();
  }
}

}  // namespace
}  // namespace sealgate::hsm
