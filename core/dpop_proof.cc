#include "core/dpop_proof.h"

#include <openssl/sha.h>

#include <algorithm>

#include "core/encoding.h"
#include "core/jws.h"

namespace sealgate {
namespace {

Error invalid(const std::string& rule) { return makeError(ErrorCode::DpopInvalid, "DPoP proof rejected: " + rule); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}
int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> normalizeHtu(std::string_view url) {
  const auto schemeEnd = url.find("://");
  if (schemeEnd == std::string_view::npos) return std::nullopt;
  std::string scheme(url.substr(0, schemeEnd));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), lower);
  if (scheme != "https" && scheme != "http") return std::nullopt;
  std::string_view rest = url.substr(schemeEnd + 3);
  rest = rest.substr(0, rest.find_first_of("?#"));
  const auto slash = rest.find('/');
  std::string authority(rest.substr(0, slash));
  std::string_view path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  if (authority.empty() || authority.find('@') != std::string::npos) return std::nullopt;
  std::transform(authority.begin(), authority.end(), authority.begin(), lower);
  // Drop the scheme's default port (an IPv6 literal ends in ']' before any port).
  const std::string defaultPort = scheme == "https" ? ":443" : ":80";
  if (authority.size() > defaultPort.size() &&
      authority.compare(authority.size() - defaultPort.size(), defaultPort.size(), defaultPort) == 0) {
    authority.resize(authority.size() - defaultPort.size());
  }
  std::string normPath;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') {
      normPath.push_back(path[i]);
      continue;
    }
    if (i + 2 >= path.size()) return std::nullopt;
    const int hi = hexValue(path[i + 1]), lo = hexValue(path[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    const char c = static_cast<char>(hi * 16 + lo);
    if (unreserved(c)) {
      normPath.push_back(c);
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      normPath += {'%', kHex[hi], kHex[lo]};
    }
    i += 2;
  }
  return scheme + "://" + authority + normPath;
}

Result<DpopResult> verifyDpopProof(const DpopCheck& check, const DpopPolicy& policy, StateStore& replay,
                                   std::chrono::system_clock::time_point now) {
  // 1-2: exactly one header holding one well-formed JWS.
  if (check.headerValues.size() != 1) return invalid("exactly one DPoP header is required");
  auto jws = parseCompactJws(check.headerValues.front(), 8192);
  if (!jws) return invalid("not a well-formed JWS");
  const auto& h = jws->header;
  const auto& p = jws->payload;
  auto str = [](const nlohmann::json& j, const char* k) -> std::optional<std::string> {
    if (!j.contains(k) || !j[k].is_string()) return std::nullopt;
    return j[k].get<std::string>();
  };
  // 4-5: typ and an asymmetric, allow-listed alg.
  if (str(h, "typ") != "dpop+jwt") return invalid("typ must be dpop+jwt");
  const auto alg = str(h, "alg");
  if (!alg || *alg == "none" || alg->rfind("HS", 0) == 0 || !policy.algorithms.count(*alg) || *alg != "ES256") {
    return invalid("alg is not allowed");
  }
  // 6-7: a public jwk, and the signature by it.
  if (!h.contains("jwk")) return invalid("header jwk is required");
  auto jwk = parseEcP256Jwk(h["jwk"]);
  if (!jwk)
    return invalid(jwk.error().code == jws_errc::kJwkPrivate ? "jwk must not contain a private key"
                                                             : "jwk is not a public EC P-256 key");
  if (!verifyEs256(*jwk, jws->signingInput, jws->signature)) return invalid("signature does not verify");
  // 3: required claims.
  const auto jti = str(p, "jti");
  if (!jti || jti->empty() || jti->size() > 256) return invalid("jti is required");
  if (!p.contains("iat") || !p["iat"].is_number_integer()) return invalid("iat is required");
  // 8: htm.
  if (str(p, "htm") != check.method) return invalid("htm does not match the request method");
  // 9: htu, after normalization of both sides.
  const auto htu = str(p, "htu");
  const auto want = normalizeHtu(check.url);
  const auto got = htu ? normalizeHtu(*htu) : std::nullopt;
  if (!want || !got || *want != *got) return invalid("htu does not match the request URL");
  // 11 (time part): iat window.
  const std::int64_t iat = p["iat"].get<std::int64_t>();
  const std::int64_t t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (iat < t - policy.maxAge.count() || iat > t + policy.maxFutureSkew.count())
    return invalid("iat is outside the window");
  // 10: server nonce.
  if (!check.nonces.empty()) {
    const auto nonce = str(p, "nonce");
    const bool current = nonce && std::any_of(check.nonces.begin(), check.nonces.end(), [&](const std::string& n) {
                           return constantTimeEquals(asBytes(*nonce), asBytes(n));
                         });
    if (!current) return makeError(ErrorCode::DpopNonceRequired, "a current server nonce is required");
  }
  const std::string jkt = jwkThumbprint(*jwk);
  // 12: ath and key binding when a token is presented.
  if (check.accessToken) {
    std::uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(check.accessToken->data()), check.accessToken->size(), digest);
    const auto ath = str(p, "ath");
    if (!ath || !constantTimeEquals(asBytes(*ath), asBytes(base64UrlNoPad(digest)))) {
      return invalid("ath does not match the presented token");
    }
  }
  if (check.boundJkt && !constantTimeEquals(asBytes(jkt), asBytes(*check.boundJkt))) {
    return makeError(ErrorCode::BindingMismatch, "the proof's key is not the key the token is bound to");
  }
  // 11 (replay part) last: a proof that fails any other rule never uses up its jti.
  const auto expiresAt =
      std::chrono::system_clock::time_point(std::chrono::seconds(iat)) + policy.maxAge + policy.maxFutureSkew;
  SEALGATE_ASSIGN_OR_RETURN(auto fresh, replay.rememberOnce("dpop:" + jkt + ":" + *jti, expiresAt));
  if (!fresh) return makeError(ErrorCode::DpopReplay, "this DPoP proof was already used");
  return DpopResult{jkt, *jti, iat};
}

}  // namespace sealgate
