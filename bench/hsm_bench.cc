// Micro benchmarks of sealgate's HSM paths on a fresh SoftHSM2 token.
//
//   BM_RawPkcs11HmacSign        baseline: C_SignInit + C_Sign (CKM_SHA256_HMAC) on one
//                               session with a cached key handle, nothing else
//   BM_ResourceRefThroughHsm    ResourceRefs (capacity 0) over HsmRefMac: the full path
//                               of an uncached resource_ref (session pool, key lookup,
//                               HMAC, base32 formatting)
//   BM_ResourceRefCached        ResourceRefs with a large cache: the hit path
//   BM_EcdsaSignP256            KeyStore::signEcdsaP256, raw r||s
//   BM_AesGcmUnwrap             KeyStore::aesGcmDecrypt of a 48-byte blob (a 32-byte
//                               data key + 16-byte tag)
//   BM_ResourceRefThroughHsmMT  BM_ResourceRefThroughHsm from 1, 2 and 4 threads
//                               sharing one ResourceRefs (and so one session pool)
//
// One token per process, created lazily by the first benchmark that runs (so
// --benchmark_filter runs only pay for what they use). See docs/BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "core/encoding.h"
#include "core/resource_ref.h"
#include "core/secret_uri.h"
#include "hsm/key_store.h"
#include "hsm/pkcs11_module.h"
#include "tests/support/temp_token.h"

namespace {

using sealgate::Bytes;
using sealgate::ResourceRefs;
using sealgate::hsm::HsmRefMac;
using sealgate::hsm::KeyStore;

constexpr const char* kRefKeyLabel = "sealgate-ref-hmac-v1";
constexpr unsigned kRefKeyVersion = 1;
constexpr const char* kEcLabel = "bench-ec-p256";
constexpr const char* kAesLabel = "bench-kek";
// A typical URI; it is canonicalised once, as the appliance does before computing refs.
constexpr const char* kUri = "secret://acme/kv/payments/stripe?version=3#api_key";

[[noreturn]] void die(const char* what, const sealgate::Error& e) {
  std::fprintf(stderr, "hsm_bench: %s: %s\n", what, e.describe().c_str());
  std::abort();
}

template <typename R>
void check(const char* what, const R& r) {
  if (!r) die(what, r.error());
}

struct Env {
  std::unique_ptr<KeyStore> keys;
  std::unique_ptr<HsmRefMac> refMac;
  std::string canonical;
  std::array<std::uint8_t, 12> iv{};
  Bytes aad;
  Bytes wrapped;  // 48 bytes: AES-GCM(32-byte data key) || tag
};

Env makeEnv() {
  Env e;
  e.keys = sealgate::testing::openFreshToken("sealgate-bench");
  check("generateHmacKey", e.keys->generateHmacKey(kRefKeyLabel, 32));
  check("generateEcP256Key", e.keys->generateEcP256Key(kEcLabel));
  check("generateAes256Key", e.keys->generateAes256Key(kAesLabel));
  e.refMac = std::make_unique<HsmRefMac>(*e.keys, kRefKeyVersion);

  auto uri = sealgate::SecretUri::parse(kUri);
  check("SecretUri::parse", uri);
  e.canonical = uri->canonical();

  for (std::size_t i = 0; i < e.iv.size(); ++i) e.iv[i] = static_cast<std::uint8_t>(0xa0 + i);
  const std::string aad = "sealgate-dek:acme";
  e.aad.assign(aad.begin(), aad.end());
  std::array<std::uint8_t, 32> dataKey{};
  for (std::size_t i = 0; i < dataKey.size(); ++i) dataKey[i] = static_cast<std::uint8_t>(i * 7 + 1);
  auto ct = e.keys->aesGcmEncrypt(kAesLabel, e.iv, e.aad, dataKey);
  check("aesGcmEncrypt", ct);
  e.wrapped = std::move(*ct);
  if (e.wrapped.size() != 48) {
    std::fprintf(stderr, "hsm_bench: wrapped blob is %zu bytes, expected 48\n", e.wrapped.size());
    std::abort();
  }
  // Warm up the token (file cache, session pool, handle cache) so that whichever
  // benchmark runs first is not penalised.
  for (int i = 0; i < 2000; ++i) check("warm-up hmacSha256", e.refMac->mac(e.canonical));

  return e;
}

// Built by the first benchmark that needs it; destroyed (C_Finalize) at exit,
// before the token's scratch directory is removed.
Env& env() {
  static Env e = makeEnv();
  return e;
}

// (a) The baseline: raw PKCS#11 on one session and a key handle looked up once.
void BM_RawPkcs11HmacSign(benchmark::State& state) {
  Env& e = env();
  auto session = sealgate::testing::openRawSession(*e.keys);
  if (!session) {
    state.SkipWithError(session.error().describe().c_str());
    return;
  }
  CK_FUNCTION_LIST* fns = e.keys->functions();
  auto key = sealgate::hsm::findObjectByLabel(fns, session->handle(), kRefKeyLabel, CKO_SECRET_KEY);
  if (!key) {
    state.SkipWithError(key.error().describe().c_str());
    return;
  }
  CK_MECHANISM mech{CKM_SHA256_HMAC, nullptr, 0};
  auto data = sealgate::asBytes(e.canonical);
  std::array<CK_BYTE, 32> mac{};
  for (auto _ : state) {
    CK_RV rv = fns->C_SignInit(session->handle(), &mech, *key);
    if (rv == CKR_OK) {
      CK_ULONG len = mac.size();
      rv = fns->C_Sign(session->handle(), const_cast<CK_BYTE_PTR>(data.data()), data.size(), mac.data(), &len);
    }
    if (rv != CKR_OK) {
      state.SkipWithError(("C_SignInit/C_Sign failed, CK_RV " + std::to_string(rv)).c_str());
      break;
    }
    benchmark::DoNotOptimize(mac);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawPkcs11HmacSign);

void runRefs(benchmark::State& state, ResourceRefs& refs, const std::string& canonical) {
  for (auto _ : state) {
    auto ref = refs.ofCanonical(canonical);
    if (!ref) {
      state.SkipWithError(ref.error().describe().c_str());
      break;
    }
    benchmark::DoNotOptimize(*ref);
  }
  state.SetItemsProcessed(state.iterations());
}

// (b) The full uncached path.
void BM_ResourceRefThroughHsm(benchmark::State& state) {
  Env& e = env();
  ResourceRefs refs(*e.refMac, 0);
  runRefs(state, refs, e.canonical);
}
BENCHMARK(BM_ResourceRefThroughHsm);

// (c) The cache-hit path (the first call fills the cache, outside the timing).
void BM_ResourceRefCached(benchmark::State& state) {
  Env& e = env();
  ResourceRefs refs(*e.refMac, 100000);
  if (auto first = refs.ofCanonical(e.canonical); !first) {
    state.SkipWithError(first.error().describe().c_str());
    return;
  }
  runRefs(state, refs, e.canonical);
}
BENCHMARK(BM_ResourceRefCached);

// (d) ECDSA P-256 (SHA-256 computed in the app, CKM_ECDSA on the token), raw r||s.
void BM_EcdsaSignP256(benchmark::State& state) {
  Env& e = env();
  auto data = sealgate::asBytes(e.canonical);
  for (auto _ : state) {
    auto sig = e.keys->signEcdsaP256(kEcLabel, data, sealgate::hsm::SignatureFormat::RawRS);
    if (!sig) {
      state.SkipWithError(sig.error().describe().c_str());
      break;
    }
    benchmark::DoNotOptimize(sig->data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EcdsaSignP256);

// (d) AES-256-GCM unwrap of a 48-byte blob.
void BM_AesGcmUnwrap(benchmark::State& state) {
  Env& e = env();
  for (auto _ : state) {
    auto plain = e.keys->aesGcmDecrypt(kAesLabel, e.iv, e.aad, e.wrapped);
    if (!plain) {
      state.SkipWithError(plain.error().describe().c_str());
      break;
    }
    benchmark::DoNotOptimize(plain->size());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AesGcmUnwrap);

// (e) The full uncached path from several threads sharing one ResourceRefs.
ResourceRefs& sharedUncachedRefs() {
  static ResourceRefs refs(*env().refMac, 0);
  return refs;
}

void BM_ResourceRefThroughHsmMT(benchmark::State& state) {
  ResourceRefs& refs = sharedUncachedRefs();
  runRefs(state, refs, env().canonical);
}
BENCHMARK(BM_ResourceRefThroughHsmMT)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

}  // namespace
