#include "core/dpop_proof.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <mutex>
#include <set>

#include "core/encoding.h"
#include "core/jws.h"
#include "core/openssl_ptr.h"
#include "tests/support/replay_only_state_store.h"

namespace sealgate {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

// A replay store for these unit tests only (the appliance's real one is
// tests/support/memory_state_store.h, tested there).
class SetStateStore : public testing::ReplayOnlyStateStore {
 public:
  Result<bool> rememberOnce(const std::string& id, Clock::time_point) override {
    std::lock_guard lock(mu_);
    return seen_.insert(id).second;
  }
  std::size_t size() {
    std::lock_guard lock(mu_);
    return seen_.size();
  }

 private:
  std::mutex mu_;
  std::set<std::string> seen_;
};

class FailingStateStore : public SetStateStore {
 public:
  Result<bool> rememberOnce(const std::string&, Clock::time_point) override {
    return makeError(ErrorCode::StateUnavailable, "down");
  }
};

class TestKey {
 public:
  TestKey() : key_(EVP_EC_gen("P-256")) {
    BIGNUM *x = nullptr, *y = nullptr;
    EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    const BignumPtr ownX(x), ownY(y);
    Bytes bx(32), by(32);
    BN_bn2binpad(x, bx.data(), 32);
    BN_bn2binpad(y, by.data(), 32);
    jwk_ = {{"kty", "EC"}, {"crv", "P-256"}, {"x", base64UrlNoPad(bx)}, {"y", base64UrlNoPad(by)}};
    thumbprint_ = jwkThumbprint(EcPublicJwk{bx, by});
  }
  std::string sign(const json& header, const json& payload) const {
    const std::string input = base64UrlNoPad(asBytes(header.dump())) + "." + base64UrlNoPad(asBytes(payload.dump()));
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    std::size_t len = 0;
    EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get());
    EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    Bytes der(len);
    EVP_DigestSign(ctx.get(), der.data(), &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    const unsigned char* p = der.data();
    EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)));
    Bytes raw(64);
    BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw.data(), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw.data() + 32, 32);
    return input + "." + base64UrlNoPad(raw);
  }
  const json& jwk() const { return jwk_; }
  const std::string& thumbprint() const { return thumbprint_; }

 private:
  EvpPkeyPtr key_;
  json jwk_;
  std::string thumbprint_;
};

const std::string kUrl = "https://localhost:8443/v1/grants/consume";

class DpopTest : public ::testing::Test {
 protected:
  json header() const { return {{"typ", "dpop+jwt"}, {"alg", "ES256"}, {"jwk", key_.jwk()}}; }
  json payload(const std::string& jti = "j-1") const {
    return {{"jti", jti}, {"htm", "POST"}, {"htu", kUrl}, {"iat", nowSeconds()}};
  }
  std::int64_t nowSeconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(now_.time_since_epoch()).count();
  }
  DpopCheck check(const std::string& proof) const { return DpopCheck{{proof}, "POST", kUrl, {}, {}, {}}; }
  Result<DpopResult> verify(const DpopCheck& c) { return verifyDpopProof(c, policy_, store_, now_); }
  void expectInvalid(const DpopCheck& c, ErrorCode code = ErrorCode::DpopInvalid) {
    const std::size_t before = store_.size();
    auto r = verify(c);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_EQ(store_.size(), before) << "a rejected proof must not use up its jti";
  }

  TestKey key_;
  DpopPolicy policy_;
  SetStateStore store_;
  Clock::time_point now_ = Clock::now();
};

TEST_F(DpopTest, AcceptsAValidProofOnceAndReportsTheKey) {
  const std::string proof = key_.sign(header(), payload());
  auto r = verify(check(proof));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->jkt, key_.thumbprint());
  EXPECT_EQ(r->jti, "j-1");
  auto replay = verify(check(proof));
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.error().code, ErrorCode::DpopReplay);
}

TEST_F(DpopTest, HeaderCountAndShape) {
  const std::string proof = key_.sign(header(), payload());
  expectInvalid(DpopCheck{{}, "POST", kUrl, {}, {}, {}});
  expectInvalid(DpopCheck{{proof, proof}, "POST", kUrl, {}, {}, {}});
  expectInvalid(check("not-a-jws"));
  expectInvalid(check(proof + "x"));
}

TEST_F(DpopTest, TypAlgAndJwk) {
  auto h = header();
  h["typ"] = "jwt";
  expectInvalid(check(key_.sign(h, payload())));
  for (const char* alg : {"none", "HS256", "RS256", "ES384"}) {
    h = header();
    h["alg"] = alg;
    expectInvalid(check(key_.sign(h, payload())));
  }
  h = header();
  h.erase("jwk");
  expectInvalid(check(key_.sign(h, payload())));
  h = header();
  h["jwk"]["d"] = h["jwk"]["x"];
  expectInvalid(check(key_.sign(h, payload())));
  // Signed by another key than the header's jwk.
  TestKey other;
  expectInvalid(check(other.sign(header(), payload())));
  // "none" even when configured.
  policy_.algorithms.insert("none");
  h = header();
  h["alg"] = "none";
  expectInvalid(check(key_.sign(h, payload())));
}

TEST_F(DpopTest, ClaimsHtmHtuIat) {
  auto p = payload();
  p.erase("jti");
  expectInvalid(check(key_.sign(header(), p)));
  p = payload();
  p["jti"] = "";
  expectInvalid(check(key_.sign(header(), p)));
  p = payload();
  p.erase("iat");
  expectInvalid(check(key_.sign(header(), p)));
  p = payload();
  p["htm"] = "GET";
  expectInvalid(check(key_.sign(header(), p)));
  for (const char* htu : {"https://localhost:8443/v1/authorize", "https://evil:8443/v1/grants/consume",
                          "http://localhost:8443/v1/grants/consume", "https://localhost:9443/v1/grants/consume"}) {
    p = payload();
    p["htu"] = htu;
    expectInvalid(check(key_.sign(header(), p)));
  }
  p = payload();
  p["iat"] = nowSeconds() - 61;
  expectInvalid(check(key_.sign(header(), p)));
  p = payload();
  p["iat"] = nowSeconds() + 30;
  expectInvalid(check(key_.sign(header(), p)));
}

TEST_F(DpopTest, HtuIsComparedAfterNormalization) {
  auto p = payload("n-1");
  p["htu"] = "HTTPS://LocalHost:8443/v1/grants/%63onsume?q=1#frag";
  EXPECT_TRUE(verify(check(key_.sign(header(), p))).ok());
  EXPECT_EQ(*normalizeHtu("https://Example.COM:443/a/%7e%2f"), "https://example.com/a/~%2F");
  EXPECT_EQ(*normalizeHtu("http://h:80"), "http://h/");
  EXPECT_FALSE(normalizeHtu("ftp://h/x").has_value());
  EXPECT_FALSE(normalizeHtu("https://h/%zz").has_value());
  EXPECT_FALSE(normalizeHtu("https://u@h/").has_value());
}

TEST_F(DpopTest, AthAndKeyBindingWithAToken) {
  const std::string token = "grant.token.value";
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  auto withToken = [&](const std::string& proof, std::optional<std::string> jkt) {
    return DpopCheck{{proof}, "POST", kUrl, token, std::move(jkt), {}};
  };
  expectInvalid(withToken(key_.sign(header(), payload()), key_.thumbprint()));  // no ath
  auto p = payload();
  p["ath"] = base64UrlNoPad(asBytes("wrong"));
  expectInvalid(withToken(key_.sign(header(), p), key_.thumbprint()));
  p = payload();
  p["ath"] = base64UrlNoPad(digest);
  expectInvalid(withToken(key_.sign(header(), p), TestKey().thumbprint()), ErrorCode::BindingMismatch);
  EXPECT_TRUE(verify(withToken(key_.sign(header(), p), key_.thumbprint())).ok());
}

TEST_F(DpopTest, ServerNonce) {
  DpopCheck c = check(key_.sign(header(), payload()));
  c.nonces = {"older", "n0nce"};
  expectInvalid(c, ErrorCode::DpopNonceRequired);
  auto p = payload();
  p["nonce"] = "stale";
  c.headerValues = {key_.sign(header(), p)};
  expectInvalid(c, ErrorCode::DpopNonceRequired);
  p["nonce"] = "n0nce";
  c.headerValues = {key_.sign(header(), p)};
  EXPECT_TRUE(verify(c).ok());
}

TEST_F(DpopTest, ReplayStoreFailureFailsClosed) {
  FailingStateStore failing;
  auto r = verifyDpopProof(check(key_.sign(header(), payload())), policy_, failing, now_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::StateUnavailable);
}

}  // namespace
}  // namespace sealgate
