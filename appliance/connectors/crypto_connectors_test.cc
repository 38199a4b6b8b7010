#include "appliance/connectors/crypto_connectors.h"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "core/encoding.h"

namespace sealgate::connectors {
namespace {

using nlohmann::json;

std::string pemOf(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

EVP_PKEY* generate(const char* type, const char* param = nullptr) {
  if (param) return EVP_PKEY_Q_keygen(nullptr, nullptr, type, param);
  if (std::string(type) == "RSA") return EVP_PKEY_Q_keygen(nullptr, nullptr, type, static_cast<size_t>(2048));
  return EVP_PKEY_Q_keygen(nullptr, nullptr, type);
}

bool verifies(const std::string& publicPem, const std::string& alg, const std::string& message,
              const Bytes& signature) {
  BIO* bio = BIO_new_mem_buf(publicPem.data(), static_cast<int>(publicPem.size()));
  EVP_PKEY* pub = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!pub) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = alg == "EdDSA" ? nullptr : alg == "ES384" ? EVP_sha384() : EVP_sha256();
  bool ok = EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, pub) == 1;
  if (ok && alg == "PS256") {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx, signature.data(), signature.size(),
                              reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pub);
  return ok;
}

TEST(HmacConnector, MatchesOpenSslAndNamesOnlyTheKeySlot) {
  HmacConnector hmac;
  auto key = Secret::copyFrom(std::string_view("hmac-key-material"));
  SlotValues slots{{"k", &*key}};
  json action = {
      {"connector", "hmac"}, {"key", "{{slot:k}}"}, {"algorithm", "HS256"}, {"message", "hello"}, {"output", "hex"}};
  auto names = hmac.validate(action, {});
  ASSERT_TRUE(names) << names.error().describe();
  EXPECT_EQ(*names, std::set<std::string>{"k"});
  auto out = hmac.run(action, {}, slots);
  ASSERT_TRUE(out) << out.error().describe();
  unsigned char expected[32];
  unsigned int n = 0;
  HMAC(EVP_sha256(), "hmac-key-material", 17, reinterpret_cast<const unsigned char*>("hello"), 5, expected, &n);
  EXPECT_EQ((*out)["mac"], hexLower({expected, n}));
  action["algorithm"] = "HS512";
  action["message"] = "68656c6c6f";
  action["message_encoding"] = "hex";
  unsigned char expected512[64];
  HMAC(EVP_sha512(), "hmac-key-material", 17, reinterpret_cast<const unsigned char*>("hello"), 5, expected512, &n);
  EXPECT_EQ((*hmac.run(action, {}, slots))["mac"], hexLower({expected512, n}));
}

TEST(HmacConnector, RefusesMalformedActions) {
  HmacConnector hmac;
  const json base = {{"connector", "hmac"}, {"key", "{{slot:k}}"}, {"algorithm", "HS256"}, {"message", "m"}};
  std::vector<std::pair<std::string, json>> bad = {{"key", "prefix{{slot:k}}"},
                                                   {"key", "{{slot:a}}{{slot:b}}"},
                                                   {"key", "literal"},
                                                   {"algorithm", "MD5"},
                                                   {"message_encoding", "rot13"},
                                                   {"output", "binary"},
                                                   {"message", 5},
                                                   {"extra", 1}};
  for (const auto& [k, v] : bad) {
    json a = base;
    a[k] = v;
    auto r = hmac.validate(a, {});
    ASSERT_FALSE(r) << a.dump();
    EXPECT_EQ(r.error().code, connector_errc::kInvalidAction) << a.dump();
  }
  json slotInMessage = base;
  slotInMessage["message"] = "{{slot:k}}";
  EXPECT_EQ(hmac.validate(slotInMessage, {}).error().code, connector_errc::kPlaceholderForbidden);
  json badHex = base;
  badHex["message"] = "zz";
  badHex["message_encoding"] = "hex";
  EXPECT_EQ(hmac.validate(badHex, {}).error().code, connector_errc::kInvalidAction);
}

TEST(SignConnector, SignaturesVerifyWithTheReturnedPublicKey) {
  SignConnector sign;
  struct Case {
    std::string alg;
    EVP_PKEY* key;
  };
  std::vector<Case> cases = {{"ES256", generate("EC", "P-256")},
                             {"ES384", generate("EC", "P-384")},
                             {"EdDSA", generate("ED25519")},
                             {"RS256", generate("RSA")},
                             {"PS256", generate("RSA")}};
  for (auto& c : cases) {
    ASSERT_NE(c.key, nullptr) << c.alg;
    const std::string pem = pemOf(c.key);
    auto key = Secret::copyFrom(std::string_view(pem));
    SlotValues slots{{"key", &*key}};
    json action = {{"connector", "sign"}, {"key", "{{slot:key}}"}, {"algorithm", c.alg}, {"message", "pay 10 EUR"}};
    ASSERT_TRUE(sign.validate(action, {})) << c.alg;
    auto out = sign.run(action, {}, slots);
    ASSERT_TRUE(out) << c.alg << " " << out.error().describe();
    auto signature = decodeBase64UrlNoPad((*out)["signature"].get<std::string>());
    ASSERT_TRUE(signature);
    EXPECT_TRUE(verifies((*out)["public_key_pem"], c.alg, "pay 10 EUR", *signature)) << c.alg;
    EXPECT_FALSE(verifies((*out)["public_key_pem"], c.alg, "pay 99 EUR", *signature)) << c.alg;
    EXPECT_EQ((*out).dump().find("PRIVATE"), std::string::npos);
    EVP_PKEY_free(c.key);
  }
}

TEST(SignConnector, KeysThatDoNotFitAreUnusable) {
  SignConnector sign;
  EVP_PKEY* p256 = generate("EC", "P-256");
  const std::string pem = pemOf(p256);
  EVP_PKEY_free(p256);
  auto key = Secret::copyFrom(std::string_view(pem));
  auto garbage = Secret::copyFrom(std::string_view("-----BEGIN PRIVATE KEY-----\nnot a key\n"));
  for (const auto& [alg, value] : std::vector<std::pair<std::string, const Secret*>>{
           {"ES384", &*key}, {"EdDSA", &*key}, {"RS256", &*key}, {"ES256", &*garbage}}) {
    json action = {{"connector", "sign"}, {"key", "{{slot:k}}"}, {"algorithm", alg}, {"message", "m"}};
    auto r = sign.run(action, {}, {{"k", value}});
    ASSERT_FALSE(r) << alg;
    EXPECT_EQ(r.error().code, connector_errc::kSecretUnusable) << alg;
    EXPECT_EQ(r.error().describe().find("not a key"), std::string::npos);
  }
}

}  // namespace
}  // namespace sealgate::connectors
