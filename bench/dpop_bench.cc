// DPoP proof verification rate against a bare OpenSSL ECDSA P-256 verify of the
// same signature, in the same run (docs/BENCHMARKS.md).
#include <benchmark/benchmark.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/dpop_proof.h"
#include "core/encoding.h"
#include "core/jws.h"
#include "tests/support/replay_only_state_store.h"

namespace {

using sealgate::Bytes;

// Accepts every jti: the benchmark measures verification, not the replay store.
class NoReplayStore : public sealgate::testing::ReplayOnlyStateStore {
 public:
  sealgate::Result<bool> rememberOnce(const std::string&, std::chrono::system_clock::time_point) override {
    return true;
  }
};

struct Fixture {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  std::string proof, signingInput;
  Bytes der;
  const std::string url = "https://localhost:8443/v1/grants/consume";

  Fixture() {
    BIGNUM *x = nullptr, *y = nullptr;
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    Bytes bx(32), by(32);
    BN_bn2binpad(x, bx.data(), 32);
    BN_bn2binpad(y, by.data(), 32);
    BN_free(x);
    BN_free(y);
    nlohmann::json header = {
        {"typ", "dpop+jwt"},
        {"alg", "ES256"},
        {"jwk",
         {{"kty", "EC"}, {"crv", "P-256"}, {"x", sealgate::base64UrlNoPad(bx)}, {"y", sealgate::base64UrlNoPad(by)}}}};
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    nlohmann::json payload = {{"jti", "bench"}, {"htm", "POST"}, {"htu", url}, {"iat", now}};
    signingInput = sealgate::base64UrlNoPad(sealgate::asBytes(header.dump())) + "." +
                   sealgate::base64UrlNoPad(sealgate::asBytes(payload.dump()));
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::size_t len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(signingInput.data()),
                   signingInput.size());
    der.resize(len);
    EVP_DigestSign(ctx, der.data(), &len, reinterpret_cast<const unsigned char*>(signingInput.data()),
                   signingInput.size());
    der.resize(len);
    EVP_MD_CTX_free(ctx);
    const unsigned char* p = der.data();
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
    Bytes raw(64);
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw.data(), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw.data() + 32, 32);
    ECDSA_SIG_free(sig);
    proof = signingInput + "." + sealgate::base64UrlNoPad(raw);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// Baseline: `openssl speed ecdsap256`'s verify, through the EVP API.
void BM_OpenSslEcdsaP256Verify(benchmark::State& state) {
  auto& f = fixture();
  for (auto _ : state) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, f.key);
    const int ok =
        EVP_DigestVerify(ctx, f.der.data(), f.der.size(), reinterpret_cast<const unsigned char*>(f.signingInput.data()),
                         f.signingInput.size());
    EVP_MD_CTX_free(ctx);
    if (ok != 1) state.SkipWithError("verify failed");
  }
}
BENCHMARK(BM_OpenSslEcdsaP256Verify);

// The full RFC 9449 check: parse, JWK, signature, claims, htu normalization, replay store.
void BM_DpopVerifyProof(benchmark::State& state) {
  auto& f = fixture();
  NoReplayStore store;
  sealgate::DpopPolicy policy;
  for (auto _ : state) {
    sealgate::DpopCheck check{{f.proof}, "POST", f.url, std::nullopt, std::nullopt, {}};
    auto r = sealgate::verifyDpopProof(check, policy, store, std::chrono::system_clock::now());
    if (!r.ok()) state.SkipWithError(r.error().message.c_str());
  }
}
BENCHMARK(BM_DpopVerifyProof);

}  // namespace
