// Hand-written on top of OpenSSL: Debian 12 packages no JOSE library for C++
// (cjose is C and pulls in jansson; we already use nlohmann_json).
#include "core/jws.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <iterator>
#include <memory>

namespace sealgate {
namespace {

Error malformed(const std::string& why) { return makeError(jws_errc::kMalformed, why); }

constexpr std::uint8_t kP256SpkiPrefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                            0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                            0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};

Result<nlohmann::json> decodeObject(std::string_view segment, const char* what) {
  auto raw = decodeBase64UrlNoPad(segment);
  if (!raw) return malformed(std::string(what) + " is not base64url");
  auto j = nlohmann::json::parse(raw->begin(), raw->end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return malformed(std::string(what) + " is not a JSON object");
  return j;
}

}  // namespace

Result<CompactJws> parseCompactJws(std::string_view token, std::size_t maxBytes) {
  if (token.empty() || token.size() > maxBytes) return malformed("token empty or too long");
  const auto d1 = token.find('.');
  if (d1 == std::string_view::npos) return malformed("not three segments");
  const auto d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return malformed("not three segments");
  }
  CompactJws jws;
  auto header = decodeObject(token.substr(0, d1), "header");
  if (!header) return std::move(header).takeError();
  auto payload = decodeObject(token.substr(d1 + 1, d2 - d1 - 1), "payload");
  if (!payload) return std::move(payload).takeError();
  auto sig = decodeBase64UrlNoPad(token.substr(d2 + 1));
  if (!sig || sig->empty()) return malformed("signature is not base64url");
  jws.header = std::move(*header);
  jws.payload = std::move(*payload);
  jws.signingInput = std::string(token.substr(0, d2));
  jws.signature = std::move(*sig);
  return jws;
}

Bytes ecP256Spki(const EcPublicJwk& jwk) {
  Bytes spki(std::begin(kP256SpkiPrefix), std::end(kP256SpkiPrefix));
  spki.push_back(0x04);
  spki.insert(spki.end(), jwk.x.begin(), jwk.x.end());
  spki.insert(spki.end(), jwk.y.begin(), jwk.y.end());
  return spki;
}

Result<EcPublicJwk> parseEcP256Jwk(const nlohmann::json& jwk) {
  if (!jwk.is_object()) return makeError(jws_errc::kJwkInvalid, "jwk is not an object");
  for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "k"}) {
    if (jwk.contains(priv)) return makeError(jws_errc::kJwkPrivate, "jwk carries private key material");
  }
  auto str = [&](const char* k) -> std::string {
    return jwk.contains(k) && jwk[k].is_string() ? jwk[k].get<std::string>() : std::string();
  };
  if (str("kty") != "EC" || str("crv") != "P-256") return makeError(jws_errc::kJwkInvalid, "jwk is not an EC P-256 key");
  auto x = decodeBase64UrlNoPad(str("x"));
  auto y = decodeBase64UrlNoPad(str("y"));
  if (!x || !y || x->size() != 32 || y->size() != 32) {
    return makeError(jws_errc::kJwkInvalid, "jwk coordinates must be 32 bytes each");
  }
  EcPublicJwk key{std::move(*x), std::move(*y)};
  // d2i_PUBKEY checks that the point is on the curve.
  const Bytes spki = ecP256Spki(key);
  const unsigned char* p = spki.data();
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));
  if (pkey == nullptr) return makeError(jws_errc::kJwkInvalid, "jwk is not a point on P-256");
  EVP_PKEY_free(pkey);
  return key;
}

std::string jwkThumbprint(const EcPublicJwk& jwk) {
  const std::string canonical = R"({"crv":"P-256","kty":"EC","x":")" + base64UrlNoPad(jwk.x) + R"(","y":")" +
                                base64UrlNoPad(jwk.y) + R"("})";
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), digest);
  return base64UrlNoPad(digest);
}

bool verifyEs256Spki(std::span<const std::uint8_t> spkiDer, std::string_view signingInput,
                     std::span<const std::uint8_t> rawSignature) {
  if (rawSignature.size() != 64) return false;
  const unsigned char* p = spkiDer.data();
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(spkiDer.size())),
                                                            EVP_PKEY_free);
  if (!pkey || EVP_PKEY_get_base_id(pkey.get()) != EVP_PKEY_EC) return false;
  // r||s -> DER. OpenSSL's verifier rejects r or s of 0 or >= n itself.
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(rawSignature.data(), 32, nullptr);
  BIGNUM* s = BN_bin2bn(rawSignature.data() + 32, 32, nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
    ECDSA_SIG_free(sig);
    BN_free(r);
    BN_free(s);
    return false;
  }
  unsigned char* der = nullptr;
  const int derLen = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (derLen <= 0) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey.get()) == 1 &&
                  EVP_DigestVerify(ctx, der, static_cast<std::size_t>(derLen),
                                   reinterpret_cast<const unsigned char*>(signingInput.data()), signingInput.size()) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  return ok;
}

bool verifyEs256(const EcPublicJwk& key, std::string_view signingInput, std::span<const std::uint8_t> rawSignature) {
  return verifyEs256Spki(ecP256Spki(key), signingInput, rawSignature);
}

}  // namespace sealgate
