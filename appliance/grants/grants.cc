#include "appliance/grants/grants.h"

#include <algorithm>

#include "core/jws.h"
#include "core/p256_spki.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

Error invalid(const std::string& why) { return makeError(grant_errc::kInvalid, why); }

bool isString(const json& j, const char* k) { return j.contains(k) && j[k].is_string(); }
bool isInt(const json& j, const char* k) { return j.contains(k) && j[k].is_number_integer(); }

}  // namespace

json GrantClaims::toJson() const {
  json j = {{"iss", iss}, {"aud", aud}, {"sub", sub}, {"jti", jti}, {"decision_id", decisionId},
            {"iat", iat}, {"nbf", nbf}, {"exp", exp}, {"res", res}, {"max_uses", maxUses},
            {"obl", obl}};
  json cnf = json::object();
  if (cnfJkt) cnf["jkt"] = *cnfJkt;
  if (cnfX5t) cnf["x5t#S256"] = *cnfX5t;
  j["cnf"] = cnf;
  if (!act.is_null()) j["act"] = act;
  if (!anc.empty()) j["anc"] = anc;
  if (bg) j["bg"] = *bg;
  return j;
}

namespace {

// `obl` must name exactly the resources of `res`, each with at least one action
// (a non-empty string) whose obligations are an object.
Result<void> checkObligations(const json& obl, const std::vector<std::string>& res) {
  if (!obl.is_object() || obl.size() != res.size()) return invalid("claim 'obl' must give each resource its actions");
  for (const std::string& r : res) {
    auto it = obl.find(r);
    if (it == obl.end() || !it->is_object() || it->empty() || it->size() > 16) {
      return invalid("claim 'obl' must give each resource 1-16 actions");
    }
    for (const auto& [action, obligations] : it->items()) {
      if (action.empty() || action.size() > 64 || !obligations.is_object()) {
        return invalid("claim 'obl' maps each action to its obligations");
      }
    }
  }
  return Ok{};
}

}  // namespace

Result<GrantClaims> GrantClaims::fromJson(const json& j) {
  if (!j.is_object()) return invalid("claims are not an object");
  for (const char* k : {"iss", "aud", "sub", "jti", "decision_id"}) {
    if (!isString(j, k)) return invalid(std::string("claim '") + k + "' missing or not a string");
  }
  for (const char* k : {"iat", "nbf", "exp"}) {
    if (!isInt(j, k)) return invalid(std::string("claim '") + k + "' missing or not an integer");
  }
  if (!j.contains("max_uses") || !j["max_uses"].is_number_unsigned() || j["max_uses"].get<std::uint64_t>() == 0 ||
      j["max_uses"].get<std::uint64_t>() > 1000000) {
    return invalid("claim 'max_uses' must be an integer in 1..1000000");
  }
  if (!j.contains("res") || !j["res"].is_array() || j["res"].empty())
    return invalid("claim 'res' must be a non-empty array");
  if (!j.contains("cnf") || !j["cnf"].is_object()) return invalid("claim 'cnf' missing");
  GrantClaims c;
  c.iss = j["iss"];
  c.aud = j["aud"];
  c.sub = j["sub"];
  c.jti = j["jti"];
  c.decisionId = j["decision_id"];
  c.iat = j["iat"];
  c.nbf = j["nbf"];
  c.exp = j["exp"];
  c.maxUses = static_cast<std::uint32_t>(j["max_uses"].get<std::uint64_t>());
  for (const auto& r : j["res"]) {
    if (!r.is_string()) return invalid("claim 'res' must hold strings");
    c.res.push_back(r.get<std::string>());
  }
  const json& cnf = j["cnf"];
  if (isString(cnf, "jkt")) c.cnfJkt = cnf["jkt"].get<std::string>();
  if (isString(cnf, "x5t#S256")) c.cnfX5t = cnf["x5t#S256"].get<std::string>();
  if (!j.contains("obl")) return invalid("claim 'obl' missing");
  c.obl = j["obl"];
  std::vector<std::string> distinct = c.res;
  std::sort(distinct.begin(), distinct.end());
  if (std::adjacent_find(distinct.begin(), distinct.end()) != distinct.end()) {
    return invalid("claim 'res' names a resource twice");
  }
  if (auto ok = checkObligations(c.obl, c.res); !ok) return ok.error();
  if (j.contains("anc")) {
    if (!j["anc"].is_array() || j["anc"].empty() || j["anc"].size() > 64) {
      return invalid("claim 'anc' must be a non-empty array of grant ids");
    }
    for (const auto& a : j["anc"]) {
      if (!a.is_string() || a.get<std::string>().empty()) return invalid("claim 'anc' must hold grant ids");
      c.anc.push_back(a.get<std::string>());
    }
  }
  if (j.contains("bg")) {
    if (!j["bg"].is_string() || j["bg"].get<std::string>().empty()) {
      return invalid("claim 'bg' must be a break-glass window id");
    }
    c.bg = j["bg"].get<std::string>();
  }
  if (j.contains("act")) {
    if (!j["act"].is_object() || !isString(j["act"], "sub")) return invalid("claim 'act' must be an object with 'sub'");
    c.act = j["act"];
  }
  // Grants are bound to one key; a delegated grant may instead be bound to its
  // holder's mTLS identity alone (the delegator does not know the holder's certificate).
  if (c.cnfJkt && c.cnfX5t) return invalid("claim 'cnf' must hold one of jkt, x5t#S256");
  if (!c.cnfJkt && !c.cnfX5t && c.act.is_null()) return invalid("claim 'cnf' must bind the grant");
  return c;
}

const json* GrantClaims::allowed(const std::string& resourceRef, const std::string& action) const {
  auto r = obl.find(resourceRef);
  if (r == obl.end() || !r->is_object()) return nullptr;
  auto a = r->find(action);
  return a == r->end() ? nullptr : &*a;
}

std::vector<std::string> GrantClaims::resourcesAllowing(const std::string& action) const {
  std::vector<std::string> out;
  for (const auto& r : res) {
    if (allowed(r, action)) out.push_back(r);
  }
  return out;
}

std::chrono::system_clock::time_point grantStateKeepUntil(std::int64_t exp) {
  // One second beyond the last instant verify() accepts.
  return std::chrono::system_clock::time_point(std::chrono::seconds(exp)) + kGrantClockLeeway + std::chrono::seconds(1);
}

std::string GrantClaims::holder() const {
  if (act.is_object() && act.contains("sub") && act["sub"].is_string()) return act["sub"].get<std::string>();
  return sub;
}

namespace {

// The JWKS entry of one grant key (its kid is the JWK thumbprint).
Result<std::pair<std::string, json>> grantJwk(const Bytes& spki) {
  if (spki.size() != kP256SpkiBytes) return makeError(ErrorCode::HsmUnsupported, "grant key is not P-256");
  EcPublicJwk pub{Bytes(spki.begin() + kP256SpkiPointOffset, spki.begin() + kP256SpkiPointOffset + 32),
                  Bytes(spki.begin() + kP256SpkiPointOffset + 32, spki.end())};
  std::string kid = jwkThumbprint(pub);
  json jwk = {
      {"kty", "EC"},  {"crv", "P-256"}, {"x", base64UrlNoPad(pub.x)}, {"y", base64UrlNoPad(pub.y)}, {"kid", kid},
      {"use", "sig"}, {"alg", "ES256"}};
  return std::pair{std::move(kid), std::move(jwk)};
}

}  // namespace

Result<std::unique_ptr<GrantAuthority>> GrantAuthority::load(GrantSigningKeys keys, std::string issuer) {
  std::unique_ptr<GrantAuthority> ga(new GrantAuthority(std::move(issuer)));
  SEALGATE_TRY(ga->reload(std::move(keys)));
  return ga;
}

Result<void> GrantAuthority::reload(GrantSigningKeys keys) {
  auto next = std::make_shared<KeySet>();
  const auto previous = keySet();
  unsigned best = 0;
  for (const auto& version : keys.versions) {
    SEALGATE_ASSIGN_OR_RETURN(auto jwk, grantJwk(version.spkiDer));
    Key key{version.label, version.spkiDer, std::move(jwk.second), false};
    // A version retired before stays retired.
    if (previous) {
      auto old = previous->byKid.find(jwk.first);
      key.retired = old != previous->byKid.end() && old->second.retired;
    }
    if (version.number > best) {
      best = version.number;
      next->activeKid = jwk.first;
    }
    next->byKid[jwk.first] = std::move(key);
  }
  if (best == 0) return makeError(ErrorCode::HsmKeyNotFound, "no sealgate-grant-es256-vN key in the HSM");
  if (next->byKid.at(next->activeKid).retired) {
    return makeError(ErrorCode::KeyRetired, "the highest grant key version is retired");
  }
  std::lock_guard lock(mu_);
  keySet_ = std::move(next);
  sign_ = std::move(keys.sign);
  return {};
}

Result<void> GrantAuthority::retire(const std::string& label) {
  std::lock_guard lock(mu_);
  auto next = std::make_shared<KeySet>(*keySet_);
  for (auto& [kid, key] : next->byKid) {
    if (key.label != label) continue;
    if (kid == next->activeKid) return makeError(ErrorCode::KeyActive, label + " signs the grants issued now");
    key.retired = true;
    keySet_ = std::move(next);
    return {};
  }
  return makeError(ErrorCode::KeyUnknown, "no grant key " + label);
}

std::map<std::string, bool> GrantAuthority::labels() const {
  std::map<std::string, bool> out;
  for (const auto& [kid, key] : keySet()->byKid) out[key.label] = key.retired;
  return out;
}

std::shared_ptr<const GrantAuthority::KeySet> GrantAuthority::keySet() const {
  std::lock_guard lock(mu_);
  return keySet_;
}

std::string GrantAuthority::activeKid() const { return keySet()->activeKid; }

std::string GrantAuthority::activeLabel() const {
  const auto keys = keySet();
  return keys->byKid.at(keys->activeKid).label;
}

Result<std::string> GrantAuthority::sign(const GrantClaims& claims) {
  std::shared_ptr<const KeySet> keys;
  std::function<Result<Bytes>(const std::string&, std::span<const std::uint8_t>)> sign;
  {
    std::lock_guard lock(mu_);
    keys = keySet_;
    sign = sign_;
  }
  const json header = {{"alg", "ES256"}, {"typ", kGrantType}, {"kid", keys->activeKid}};
  const std::string signingInput =
      base64UrlNoPad(asBytes(header.dump())) + "." + base64UrlNoPad(asBytes(claims.toJson().dump()));
  SEALGATE_ASSIGN_OR_RETURN(auto sig, sign(keys->byKid.at(keys->activeKid).label, asBytes(signingInput)));
  return signingInput + "." + base64UrlNoPad(sig);
}

Result<GrantClaims> GrantAuthority::verify(std::string_view token, std::chrono::system_clock::time_point now,
                                           std::chrono::seconds leeway) const {
  auto jws = parseCompactJws(token);
  if (!jws) return invalid("the grant is not a well-formed JWS");
  const json& h = jws->header;
  if (!isString(h, "alg") || h["alg"] != "ES256" || !isString(h, "typ") || h["typ"] != kGrantType ||
      !isString(h, "kid")) {
    return invalid("the grant's header is not a sealgate grant header");
  }
  const auto keys = keySet();
  auto key = keys->byKid.find(h["kid"].get<std::string>());
  if (key == keys->byKid.end()) return invalid("the grant was signed by an unknown key");
  if (!verifyEs256Spki(key->second.spki, jws->signingInput, jws->signature)) {
    return invalid("the grant's signature does not verify");
  }
  // After the signature: only a grant this appliance signed learns that its key is retired.
  if (key->second.retired) return makeError(ErrorCode::KeyRetired, "the grant was signed by a retired key");
  auto claims = GrantClaims::fromJson(jws->payload);
  if (!claims) return claims;
  if (claims->iss != issuer_ || claims->aud != issuer_) return invalid("the grant was issued for another appliance");
  const auto t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (claims->nbf > t + leeway.count()) return makeError(grant_errc::kInvalid, "the grant is not valid yet");
  if (claims->exp <= t - leeway.count()) return makeError(grant_errc::kExpired, "the grant has expired");
  return claims;
}

json GrantAuthority::jwks() const {
  json keys = json::array();
  for (const auto& [kid, key] : keySet()->byKid) {
    if (!key.retired) keys.push_back(key.jwk);
  }
  return json{{"keys", keys}};
}

}  // namespace sealgate::appliance
