// Wycheproof vectors (tests/vectors/wycheproof) through keys imported into a
// fresh SoftHSM2 token. Vectors the token or API refuses are checked elsewhere
// (OpenSSL) or asserted to be refused, and counted apart: never silently skipped.
#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "hsm/key_store.h"
#include "tests/support/temp_token.h"

namespace sealgate::hsm {
namespace {

nlohmann::json loadVectors(const std::string& name) {
  std::ifstream in(std::string(SEALGATE_WYCHEPROOF_DIR) + "/" + name);
  if (!in) ADD_FAILURE() << "missing Wycheproof file " << name << " in " << SEALGATE_WYCHEPROOF_DIR;
  return nlohmann::json::parse(in, nullptr, false);
}

Bytes hex(const nlohmann::json& v) { return *decodeHex(v.get<std::string>()); }

TEST(Wycheproof, HmacSha256) {
  auto doc = loadVectors("hmac_sha256_test.json");
  ASSERT_FALSE(doc.is_discarded());
  auto ks = sealgate::testing::openFreshToken("wp-hmac");
  std::map<Bytes, std::string> labels;  // key -> label, one import per distinct key
  int total = 0, viaHsm = 0, viaOpenSsl = 0, valid = 0, invalid = 0;
  for (const auto& group : doc["testGroups"]) {
    const std::size_t tagBytes = group["tagSize"].get<std::size_t>() / 8;
    for (const auto& t : group["tests"]) {
      ++total;
      const Bytes key = hex(t["key"]), msg = hex(t["msg"]), tag = hex(t["tag"]);
      const std::string result = t["result"];
      Bytes computed;
      std::string& label = labels[key];
      if (label.empty()) {
        label = "wp-" + std::to_string(labels.size());
        auto imported = ks->importHmacKey(label, *Secret::copyFrom(key));
        ASSERT_TRUE(imported.ok()) << imported.error().describe();
      }
      auto mac = ks->hmacSha256(label, msg);
      if (mac.ok()) {
        ++viaHsm;
        computed.assign(mac->begin(), mac->end());
      } else {
        // SoftHSM 2.6 refuses HMAC keys under 32 bytes: it must say so clearly.
        ASSERT_EQ(mac.error().code, hsm_errc::kUnsupported) << "tcId " << t["tcId"] << ": " << mac.error().describe();
        ASSERT_LT(key.size(), 32u) << "tcId " << t["tcId"];
        ++viaOpenSsl;
        unsigned char out[32];
        unsigned len = 0;
        HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), msg.data(), msg.size(), out, &len);
        computed.assign(out, out + len);
      }
      computed.resize(tagBytes);
      const bool matches = constantTimeEquals(computed, tag);
      if (result == "valid") {
        ++valid;
        EXPECT_TRUE(matches) << "tcId " << t["tcId"];
      } else if (result == "invalid") {
        ++invalid;
        EXPECT_FALSE(matches) << "tcId " << t["tcId"];
      }
    }
  }
  std::printf(
      "[wycheproof hmac] %d vectors: %d through the HSM, %d via OpenSSL (key < 32 bytes); %d valid, %d invalid\n",
      total, viaHsm, viaOpenSsl, valid, invalid);
  EXPECT_EQ(total, doc["numberOfTests"].get<int>());
  EXPECT_EQ(viaHsm + viaOpenSsl, total);
  EXPECT_GT(viaHsm, 150);
}

TEST(Wycheproof, AesGcmUnwrap) {
  auto doc = loadVectors("aes_gcm_test.json");
  ASSERT_FALSE(doc.is_discarded());
  auto ks = sealgate::testing::openFreshToken("wp-gcm");
  std::map<Bytes, std::string> labels;
  int total = 0, viaHsm = 0, refusedByApi = 0;
  for (const auto& group : doc["testGroups"]) {
    const bool apiShape = group["ivSize"] == 96 && group["tagSize"] == 128;
    for (const auto& t : group["tests"]) {
      ++total;
      const Bytes key = hex(t["key"]), iv = hex(t["iv"]), aad = hex(t["aad"]), msg = hex(t["msg"]);
      Bytes ctTag = hex(t["ct"]);
      const Bytes tag = hex(t["tag"]);
      ctTag.insert(ctTag.end(), tag.begin(), tag.end());
      std::string& label = labels[key];
      if (label.empty()) {
        label = "gcm-" + std::to_string(labels.size());
        ASSERT_TRUE(ks->importAesKey(label, *Secret::copyFrom(key)).ok());
      }
      auto pt = ks->aesGcmDecrypt(label, iv, aad, ctTag);
      if (!apiShape) {
        // The wrapping API fixes 96-bit IVs and 128-bit tags; anything else is refused.
        ++refusedByApi;
        if (iv.size() != 12) {
          ASSERT_FALSE(pt.ok());
          EXPECT_EQ(pt.error().code, hsm_errc::kBadInput) << "tcId " << t["tcId"];
        } else {
          EXPECT_FALSE(pt.ok()) << "tcId " << t["tcId"] << ": a truncated tag must not verify";
        }
        continue;
      }
      ++viaHsm;
      if (t["result"] == "valid") {
        ASSERT_TRUE(pt.ok()) << "tcId " << t["tcId"] << ": " << pt.error().describe();
        EXPECT_EQ(Bytes(pt->exposeSecretBytes().begin(), pt->exposeSecretBytes().end()), msg) << "tcId " << t["tcId"];
        auto ct = ks->aesGcmEncrypt(label, iv, aad, msg);
        ASSERT_TRUE(ct.ok());
        EXPECT_EQ(*ct, ctTag) << "tcId " << t["tcId"];
      } else if (t["result"] == "invalid") {
        ASSERT_FALSE(pt.ok()) << "tcId " << t["tcId"];
        EXPECT_EQ(pt.error().code, hsm_errc::kDecrypt);
      }
    }
  }
  std::printf(
      "[wycheproof aes-gcm] %d vectors: %d through the HSM, %d refused by the API (IV != 96 or tag != 128 bits)\n",
      total, viaHsm, refusedByApi);
  EXPECT_EQ(total, doc["numberOfTests"].get<int>());
  EXPECT_GT(viaHsm, 100);
}

}  // namespace
}  // namespace sealgate::hsm
