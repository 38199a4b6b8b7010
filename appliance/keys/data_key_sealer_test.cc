// HsmTpmDataKeySealer against a real SoftHSM2 token (and a real swtpm).
#include "appliance/keys/data_key_sealer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "tests/support/swtpm.h"
#include "tests/support/temp_dir.h"
#include "tests/support/temp_token.h"

namespace sealgate::appliance {
namespace {

hsm::KeyStore& keys() {
  static std::unique_ptr<hsm::KeyStore> k = [] {
    auto store = testing::openFreshToken("sealer-test");
    if (!store->generateAes256Key("sealgate-kek") || !store->generateAes256Key("other-kek")) std::abort();
    return store;
  }();
  return *k;
}

TEST(DataKeySealer, RoundTripBindsTheContext) {
  HsmTpmDataKeySealer sealer(keys(), "sealgate-kek", nullptr, {});
  auto dek = HsmTpmDataKeySealer::newDataKey();
  ASSERT_TRUE(dek);
  EXPECT_EQ(dek->size(), 32u);
  auto blob = sealer.seal(*dek, "state/v1|abc");
  ASSERT_TRUE(blob) << blob.error().describe();
  auto back = sealer.unseal(*blob, "state/v1|abc");
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_TRUE(back->equals(*dek));
  // Another purpose or instance cannot open it.
  auto other = sealer.unseal(*blob, "kv/v1|abc");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::HsmDecryptFailed);
  // The plaintext key is not in the blob.
  const auto raw = dek->exposeSecretBytes();
  EXPECT_EQ(std::search(blob->begin(), blob->end(), raw.begin(), raw.end()), blob->end());
}

TEST(DataKeySealer, MalformedOrTamperedBlobsAreRefused) {
  HsmTpmDataKeySealer sealer(keys(), "sealgate-kek", nullptr, {});
  auto dek = HsmTpmDataKeySealer::newDataKey();
  auto blob = sealer.seal(*dek, "ctx");
  ASSERT_TRUE(blob);
  struct Case {
    std::size_t at;
    ErrorCode code;
  } cases[] = {{0, sealer_errc::kBlob},
               {4, sealer_errc::kBlob},
               {5, sealer_errc::kBlob},
               {blob->size() - 1, ErrorCode::HsmDecryptFailed},
               {blob->size() - 30, ErrorCode::HsmDecryptFailed}};
  for (const auto& c : cases) {
    Bytes bad = *blob;
    bad[c.at] ^= 0x80;
    auto r = sealer.unseal(bad, "ctx");
    ASSERT_FALSE(r) << "byte " << c.at;
    EXPECT_EQ(r.error().code, c.code) << "byte " << c.at;
  }
  EXPECT_EQ(sealer.unseal(Bytes(blob->begin(), blob->begin() + 12), "ctx").error().code, sealer_errc::kBlob);
  EXPECT_EQ(sealer.unseal(Bytes{}, "ctx").error().code, sealer_errc::kBlob);
  // Self-describing: a blob names its KEK, so a sealer configured with a newer
  // KEK still unwraps blobs made under the old one (rotation).
  HsmTpmDataKeySealer rotated(keys(), "other-kek", nullptr, {});
  auto underOld = rotated.unseal(*blob, "ctx");
  ASSERT_TRUE(underOld) << underOld.error().describe();
  EXPECT_TRUE(underOld->equals(*dek));
}

TEST(DataKeySealer, TpmSealingIsBothOrNeither) {
  const std::string dir = testing::makeTempDir("sealer-tpm");
  {
    testing::Swtpm swtpm(dir);
    auto tpm = attest::Tpm::open(swtpm.tcti());
    ASSERT_TRUE(tpm);
    HsmTpmDataKeySealer withTpm(keys(), "sealgate-kek", tpm->get(), {16});
    HsmTpmDataKeySealer withoutTpm(keys(), "sealgate-kek", nullptr, {});
    auto dek = HsmTpmDataKeySealer::newDataKey();
    auto sealed = withTpm.seal(*dek, "ctx");
    ASSERT_TRUE(sealed) << sealed.error().describe();
    auto back = withTpm.unseal(*sealed, "ctx");
    ASSERT_TRUE(back) << back.error().describe();
    EXPECT_TRUE(back->equals(*dek));
    EXPECT_EQ(withoutTpm.unseal(*sealed, "ctx").error().code, sealer_errc::kTpmRequired);
    auto hsmOnly = withoutTpm.seal(*dek, "ctx");
    ASSERT_TRUE(hsmOnly);
    EXPECT_EQ(withTpm.unseal(*hsmOnly, "ctx").error().code, sealer_errc::kTpmRequired);  // no silent downgrade
    // The PCR list in the blob is authenticated by the TPM policy: editing it fails.
    Bytes edited = *sealed;
    const std::size_t pcrAt = 8 + std::string("sealgate-kek").size() + 1;
    ASSERT_EQ(edited[pcrAt], 16);
    edited[pcrAt] = 7;
    auto refused = withTpm.unseal(edited, "ctx");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, attest::tpm_errc::kPolicy);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sealgate::appliance
