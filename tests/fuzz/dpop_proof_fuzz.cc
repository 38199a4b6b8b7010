// libFuzzer target: arbitrary bytes as a DPoP header value, as a compact JWS and
// as a JWK. Must never crash; traps when a proof is accepted that breaks a rule
// the verifier promises to enforce.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dpop_proof.h"
#include "core/json_parse.h"
#include "core/jws.h"
#include "tests/support/replay_only_state_store.h"

namespace {

class AcceptAll : public sealgate::testing::ReplayOnlyStateStore {
 public:
  sealgate::Result<bool> rememberOnce(const std::string&, std::chrono::system_clock::time_point) override {
    return true;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  if (auto jws = sealgate::parseCompactJws(input); jws.ok()) {
    if (!jws->header.is_object() || !jws->payload.is_object()) __builtin_trap();
  }
  auto parsed = sealgate::parseJson(input);
  if (parsed) {
    const nlohmann::json& j = *parsed;
    if (auto jwk = sealgate::parseEcP256Jwk(j); jwk.ok()) {
      if (jwk->x.size() != 32 || jwk->y.size() != 32 || j.contains("d")) __builtin_trap();
      if (sealgate::jwkThumbprint(*jwk).size() != 43) __builtin_trap();
    }
  }
  AcceptAll store;
  sealgate::DpopCheck check{{input}, "POST", "https://localhost:8443/v1/authorize", std::nullopt, std::nullopt, {}};
  auto r = sealgate::verifyDpopProof(check, sealgate::DpopPolicy{}, store, std::chrono::system_clock::now());
  if (r.ok()) {
    // Only a correctly signed ES256 proof can pass; random input never should.
    auto jws = sealgate::parseCompactJws(input);
    if (!jws.ok() || jws->header.value("alg", "") != "ES256" || jws->header.value("typ", "") != "dpop+jwt") {
      __builtin_trap();
    }
  } else if (!std::string_view(sealgate::errorCodeName(r.error().code)).starts_with("DPOP_")) {
    __builtin_trap();
  }
  return 0;
}
