// attest::Tpm against a real software TPM (swtpm over a unix socket).
#include "attest/tpm.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>

#include "tests/support/swtpm.h"
#include "tests/support/temp_dir.h"

namespace sealgate::attest {
namespace {

constexpr std::uint32_t kIndex = 0x01500020;

std::string tempDir() { return testing::makeTempDir("sealgate-tpm"); }

Secret secretOf(std::string_view s) { return std::move(*Secret::copyFrom(s)); }

class TpmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tempDir();
    swtpm_ = std::make_unique<testing::Swtpm>(dir_);
    auto tpm = Tpm::open(swtpm_->tcti());
    ASSERT_TRUE(tpm) << tpm.error().describe();
    tpm_ = std::move(*tpm);
  }
  void TearDown() override {
    tpm_.reset();
    swtpm_.reset();
    std::filesystem::remove_all(dir_);
  }
  void restartSwtpm() {
    tpm_.reset();
    swtpm_.reset();
    swtpm_ = std::make_unique<testing::Swtpm>(dir_);
    auto tpm = Tpm::open(swtpm_->tcti());
    ASSERT_TRUE(tpm) << tpm.error().describe();
    tpm_ = std::move(*tpm);
  }
  std::string dir_;
  std::unique_ptr<testing::Swtpm> swtpm_;
  std::unique_ptr<Tpm> tpm_;
};

TEST_F(TpmTest, SealUnsealRoundTrip) {
  Secret data = secretOf("0123456789abcdef0123456789abcdef-data-key");
  auto blob = tpm_->seal(data, {16});
  ASSERT_TRUE(blob) << blob.error().describe();
  auto back = tpm_->unseal(*blob, {16});
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_TRUE(back->equals(data));
  // The blob does not carry the plaintext.
  const std::string raw(blob->begin(), blob->end());
  EXPECT_EQ(raw.find("data-key"), std::string::npos);
}

TEST_F(TpmTest, UnsealSurvivesTpmRestartWithSameState) {
  Secret data = secretOf("sealed across a restart");
  auto blob = tpm_->seal(data, {7});
  ASSERT_TRUE(blob);
  restartSwtpm();
  auto back = tpm_->unseal(*blob, {7});
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_TRUE(back->equals(data));
}

TEST_F(TpmTest, ChangedPcrRefusesUnsealUntilReset) {
  Secret data = secretOf("bound to pcr 16");
  auto blob = tpm_->seal(data, {16});
  ASSERT_TRUE(blob);
  ASSERT_TRUE(tpm_->extendPcr(16, "a different boot"));
  auto refused = tpm_->unseal(*blob, {16});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, tpm_errc::kPolicy);
  EXPECT_EQ(refused.error().operation, "Esys_Unseal");
  EXPECT_NE(refused.error().native, 0u);  // the TSS2_RC is kept
  ASSERT_TRUE(tpm_->resetPcr(16));
  EXPECT_TRUE(tpm_->unseal(*blob, {16}));
}

TEST_F(TpmTest, UnsealWithAnotherPcrSelectionFails) {
  auto blob = tpm_->seal(secretOf("x"), {16});
  ASSERT_TRUE(blob);
  auto refused = tpm_->unseal(*blob, {7});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, tpm_errc::kPolicy);
}

TEST_F(TpmTest, BlobFromAnotherTpmIsRejected) {
  auto blob = tpm_->seal(secretOf("belongs to the first TPM"), {16});
  ASSERT_TRUE(blob);
  const std::string otherDir = tempDir();
  {
    testing::Swtpm other(otherDir);
    auto otherTpm = Tpm::open(other.tcti());
    ASSERT_TRUE(otherTpm);
    auto refused = (*otherTpm)->unseal(*blob, {16});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, tpm_errc::kForeignBlob) << refused.error().describe();
  }
  std::filesystem::remove_all(otherDir);
}

TEST_F(TpmTest, CorruptBlobIsRejected) {
  auto blob = tpm_->seal(secretOf("integrity protected"), {16});
  ASSERT_TRUE(blob);
  for (std::size_t at : {std::size_t{4}, blob->size() / 3, blob->size() - 3}) {
    Bytes bad = *blob;
    bad[at] ^= 0x01;
    auto refused = tpm_->unseal(bad, {16});
    EXPECT_FALSE(refused) << "flip at " << at;
  }
  Bytes truncated(blob->begin(), blob->begin() + static_cast<long>(blob->size() / 2));
  auto refused = tpm_->unseal(truncated, {16});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, tpm_errc::kForeignBlob);
  EXPECT_FALSE(tpm_->unseal(Bytes{}, {16}));
}

TEST_F(TpmTest, SealRejectsBadInput) {
  EXPECT_EQ(tpm_->seal(Secret{}, {16}).error().code, tpm_errc::kBadInput);
  EXPECT_EQ(tpm_->seal(secretOf(std::string(129, 'a')), {16}).error().code, tpm_errc::kBadInput);
  EXPECT_EQ(tpm_->seal(secretOf("x"), {}).error().code, tpm_errc::kBadInput);
  EXPECT_EQ(tpm_->seal(secretOf("x"), {24}).error().code, tpm_errc::kBadInput);
}

TEST_F(TpmTest, CounterIsMonotonicAndSurvivesRestart) {
  Secret auth = secretOf("nv-auth-secret");
  ASSERT_FALSE(tpm_->counterDefined(kIndex));
  auto missing = tpm_->readCounter(kIndex, auth);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, tpm_errc::kCounterMissing);

  ASSERT_TRUE(tpm_->defineCounter(kIndex, auth));
  EXPECT_TRUE(tpm_->counterDefined(kIndex));
  auto first = tpm_->readCounter(kIndex, auth);
  ASSERT_TRUE(first) << first.error().describe();
  auto second = tpm_->incrementCounter(kIndex, auth);
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, *first + 1);

  restartSwtpm();
  auto afterRestart = tpm_->readCounter(kIndex, auth);
  ASSERT_TRUE(afterRestart);
  EXPECT_EQ(*afterRestart, *second);

  // Undefine + redefine continues from the highest value ever held: a counter
  // cannot be wound back by recreating it.
  ASSERT_TRUE(tpm_->undefineCounter(kIndex));
  EXPECT_FALSE(tpm_->counterDefined(kIndex));
  ASSERT_TRUE(tpm_->defineCounter(kIndex, auth));
  auto redefined = tpm_->readCounter(kIndex, auth);
  ASSERT_TRUE(redefined);
  EXPECT_GT(*redefined, *second);
}

TEST_F(TpmTest, CounterRefusesWrongAuth) {
  ASSERT_TRUE(tpm_->defineCounter(kIndex, secretOf("right")));
  auto refused = tpm_->incrementCounter(kIndex, secretOf("wrong"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, tpm_errc::kCounterAuth) << refused.error().describe();
  auto readRefused = tpm_->readCounter(kIndex, secretOf("wrong"));
  ASSERT_FALSE(readRefused);
  EXPECT_EQ(readRefused.error().code, tpm_errc::kCounterAuth);
}

TEST(TpmOpen, UnreachableTpmIsUnavailable) {
  auto tpm = Tpm::open("swtpm:path=/nonexistent/sealgate/swtpm.sock");
  ASSERT_FALSE(tpm);
  EXPECT_EQ(tpm.error().code, tpm_errc::kUnavailable);
  EXPECT_NE(tpm.error().native, 0u);
  auto bogus = Tpm::open("no-such-tcti-module");
  ASSERT_FALSE(bogus);
  EXPECT_EQ(bogus.error().code, tpm_errc::kUnavailable);
}

}  // namespace
}  // namespace sealgate::attest
