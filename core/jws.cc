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

#include <algorithm>
#include <iterator>

#include <memory>
#include "core/openssl_ptr.h"
#include "core/p256_spki.h"

#include "core/json_parse.h"

namespace sealgate {
namespace {

Error malformed(const std::string& why) { return makeError(jws_errc::kMalformed, why); }

Result<nlohmann::json> decodeObject(std::string_view segment, const char* what) {
  auto raw = decodeBase64UrlNoPad(segment);
  if (!raw) return malformed(std::string(what) + " is not base64url");
  auto j = parseJson(std::span<const std::uint8_t>(raw->data(), raw->size()));
  if (!j) return malformed(std::string(what) + " is not acceptable JSON (" + j.error().describe() + ")");
  if (!j->is_object()) return malformed(std::string(what) + " is not a JSON object");
  return std::move(*j);
}

// The legacy EC_KEY API builds a key from affine coordinates (checking that the
// point is on the curve) in microseconds; OpenSSL 3's d2i_PUBKEY decoder path costs
// ~100 µs per call, which dominated DPoP verification.
EcKeyPtr p256Key(std::span<const std::uint8_t> x, std::span<const std::uint8_t> y) {
  EcKeyPtr key(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  if (!key) return key;
  const EC_GROUP* group = EC_KEY_get0_group(key.get());
  EcPointPtr point(EC_POINT_new(group));
  BignumPtr bx(BN_bin2bn(x.data(), static_cast<int>(x.size()), nullptr));
  BignumPtr by(BN_bin2bn(y.data(), static_cast<int>(y.size()), nullptr));
  // P-256 has cofactor 1: a point on the curve is in the group, so the on-curve
  // check is the whole validation (EC_KEY_check_key's n*Q test would cost a
  // scalar multiplication per proof).
  const bool ok = point && bx && by &&
                  EC_POINT_set_affine_coordinates(group, point.get(), bx.get(), by.get(), nullptr) == 1 &&
                  EC_POINT_is_on_curve(group, point.get(), nullptr) == 1 &&
                  !EC_POINT_is_at_infinity(group, point.get()) && EC_KEY_set_public_key(key.get(), point.get()) == 1;
  if (!ok) key.reset();
  return key;
}

bool verifyWithKey(EC_KEY* key, std::string_view signingInput, std::span<const std::uint8_t> rawSignature) {
  if (rawSignature.size() != 64) return false;
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(signingInput.data()), signingInput.size(), digest);
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BignumPtr r(BN_bin2bn(rawSignature.data(), 32, nullptr));
  BignumPtr s(BN_bin2bn(rawSignature.data() + 32, 32, nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return false;
  r.release();  // owned by sig now
  s.release();
  // ECDSA_do_verify rejects r or s of 0 or >= n.
  return ECDSA_do_verify(digest, sizeof digest, sig.get(), key) == 1;
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
  SEALGATE_ASSIGN_OR_RETURN(auto header, decodeObject(token.substr(0, d1), "header"));
  SEALGATE_ASSIGN_OR_RETURN(auto payload, decodeObject(token.substr(d1 + 1, d2 - d1 - 1), "payload"));
  auto sig = decodeBase64UrlNoPad(token.substr(d2 + 1));
  if (!sig || sig->empty()) return malformed("signature is not base64url");
  jws.header = std::move(header);
  jws.payload = std::move(payload);
  jws.signingInput = std::string(token.substr(0, d2));
  jws.signature = std::move(*sig);
  return jws;
}

Bytes ecP256Spki(const EcPublicJwk& jwk) {
  Bytes spki(kP256SpkiPrefix.begin(), kP256SpkiPrefix.end());
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
  if (str("kty") != "EC" || str("crv") != "P-256")
    return makeError(jws_errc::kJwkInvalid, "jwk is not an EC P-256 key");
  auto x = decodeBase64UrlNoPad(str("x"));
  auto y = decodeBase64UrlNoPad(str("y"));
  if (!x || !y || x->size() != 32 || y->size() != 32) {
    return makeError(jws_errc::kJwkInvalid, "jwk coordinates must be 32 bytes each");
  }
  EcPublicJwk key{std::move(*x), std::move(*y)};
  if (!p256Key(key.x, key.y)) return makeError(jws_errc::kJwkInvalid, "jwk is not a point on P-256");
  return key;
}

std::string jwkThumbprint(const EcPublicJwk& jwk) {
  const std::string canonical =
      R"({"crv":"P-256","kty":"EC","x":")" + base64UrlNoPad(jwk.x) + R"(","y":")" + base64UrlNoPad(jwk.y) + R"("})";
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), digest);
  return base64UrlNoPad(digest);
}

bool verifyEs256Spki(std::span<const std::uint8_t> spkiDer, std::string_view signingInput,
                     std::span<const std::uint8_t> rawSignature) {
  // Our own P-256 SPKIs have a fixed layout; anything else goes through the decoder.
  constexpr std::size_t kPrefix = kP256SpkiPrefix.size();
  if (spkiDer.size() == kP256SpkiBytes && std::equal(kP256SpkiPrefix.begin(), kP256SpkiPrefix.end(), spkiDer.begin()) &&
      spkiDer[kPrefix] == 0x04) {
    auto key = p256Key(spkiDer.subspan(kP256SpkiPointOffset, 32), spkiDer.subspan(kP256SpkiPointOffset + 32, 32));
    return key && verifyWithKey(key.get(), signingInput, rawSignature);
  }
  const unsigned char* p = spkiDer.data();
  EvpPkeyPtr pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(spkiDer.size())));
  if (!pkey) return false;
  const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(pkey.get());
  if (ec == nullptr || EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) != NID_X9_62_prime256v1) return false;
  return verifyWithKey(const_cast<EC_KEY*>(ec), signingInput, rawSignature);
}

bool verifyEs256(const EcPublicJwk& key, std::string_view signingInput, std::span<const std::uint8_t> rawSignature) {
  auto ec = p256Key(key.x, key.y);
  return ec && verifyWithKey(ec.get(), signingInput, rawSignature);
}

}  // namespace sealgate
