#include "appliance/grants/pep_api.h"

#include <openssl/rand.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "appliance/audit/audit_event.h"
#include "appliance/server/identity.h"
#include "appliance/telemetry/logging.h"
#include "appliance/server/request_bodies.h"
#include "core/encoding.h"
#include "core/secret_uri.h"
#include "core/json_parse.h"
#include "core/time_format.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

std::string randomId(std::size_t bytes = 16) {
  std::vector<std::uint8_t> raw(bytes);
  RAND_bytes(raw.data(), static_cast<int>(raw.size()));
  return base64UrlNoPad(raw);
}

std::int64_t unixSeconds(PepApi::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string rfc3339(std::int64_t t) { return rfc3339Seconds(t); }


HttpError auditFailure(const Error& e) {
  logEvent(LogLevel::Error, "audit_failure", {{"error", e.describe()}});
  return HttpError{ErrorCode::AuditUnavailable, "the audit log cannot record the decision; nothing was granted"};
}

// A state store that cannot answer (tampered, rolled back, unavailable, TPM
// gone) denies with 503 and its own stable code; nothing was changed.
HttpError stateFailure(const Error& e, const std::string& correlationId, const char* nothingDone) {
  logEvent(LogLevel::Error, "state_failure", {{"correlation_id", correlationId}, {"error", e.describe()}});
  return HttpError{stateFailureCode(e.code), nothingDone};
}

// The state's refusals of a grant (not failures of the state): exhausted or
// revoked (itself or an ancestor) is 403, unknown past the pruning horizon 401.
std::optional<HttpError> grantRefusal(const Error& e) {
  if (isGrantRefusal(e.code)) return HttpError{e.code, e.message};
  return std::nullopt;
}

// What verifyDpopProof refuses a proof with; any other error is its replay
// store's (the state) failing.
bool isDpopRefusal(ErrorCode code) {
  return code == ErrorCode::DpopInvalid || code == ErrorCode::DpopReplay || code == ErrorCode::DpopNonceRequired ||
         code == ErrorCode::BindingMismatch;
}

}  // namespace

PepApi::PepApi(const Config& config, ResourceRefs& refs, GrantAuthority& grants, DecisionPoint& pdp,
               StateStore& state, AuditSink& audit)
    : config_(config), refs_(refs), grants_(grants), pdp_(pdp), state_(state), audit_(audit) {}

// From configuration only (the listener's pep.public_url, or its listen address in
// development mode): never from the request's Host header.
std::string PepApi::expectedHtu(const Request& request) const {
  if (request.publicBase.empty()) return {};  // no configured URL: no proof can match
  return request.publicBase + request.path;
}

HttpError PepApi::dpopError(const Error& e) {
  if (!isDpopRefusal(e.code)) return stateFailure(e, "", "the DPoP proof's jti cannot be recorded; nothing was done");
  HttpError err{e.code, e.message};
  if (e.code == ErrorCode::DpopNonceRequired) {
    auto nonces = acceptedNonces();
    err.headers["DPoP-Nonce"] = nonces.front();
  }
  if (e.code == ErrorCode::DpopInvalid || e.code == ErrorCode::DpopReplay) {
    err.headers["WWW-Authenticate"] = "DPoP error=\"invalid_dpop_proof\", algs=\"ES256\"";
  } else if (e.code == ErrorCode::DpopNonceRequired) {
    err.headers["WWW-Authenticate"] = "DPoP error=\"use_dpop_nonce\", algs=\"ES256\"";
  }
  return err;
}

HandlerResult PepApi::jwks(Request&) { return Response{200, grants_.jwks()}; }

HandlerResult PepApi::authorize(Request& request) {
  auto parsed = parseAuthorizeBody(request.body, request.identity.tenant, config_.grants.maxBatch);
  if (!parsed) return HttpError{parsed.error().code, parsed.error().message};
  std::vector<AuthorizeItem>& items = *parsed;

  // Binding: a DPoP proof on this request binds the grant to its key.
  std::optional<std::string> jkt;
  if (!request.dpop.empty()) {
    auto proof = checkDpop(request, std::nullopt, std::nullopt);
    if (!proof) return dpopError(proof.error());
    jkt = proof->jkt;
  }

  for (auto& item : items) {
    if (!item.uri) continue;
    auto ref = refs_.of(*item.uri);
    if (!ref) {
      logEvent(LogLevel::Error, "hsm_failure", {{"correlation_id", request.correlationId}, {"error", ref.error().describe()}});
      return HttpError{ErrorCode::HsmUnavailable, "the HSM could not compute a resource_ref"};
    }
    item.resourceRef = *ref;
  }

  DecisionSubject subject{request.identity.spiffeId, request.identity.tenant, request.identity.service};
  std::vector<DecisionRequest> asks;
  for (const auto& item : items) {
    if (item.uri) asks.push_back(DecisionRequest{item.index, item.uri->canonical(), item.action, item.contextJson});
  }
  std::vector<Decision> decisions;
  if (!asks.empty()) {
    auto decided = pdp_.decide(subject, asks, std::chrono::milliseconds(2000));
    if (!decided) {
      logEvent(LogLevel::Error, "pdp_failure", {{"correlation_id", request.correlationId}, {"error", decided.error().describe()}});
      return HttpError{ErrorCode::PdpUnavailable, "the policy decision point did not answer; nothing was granted"};
    }
    decisions = std::move(*decided);
  }

  const std::string decisionId = randomId();
  const auto now = clock_();
  GrantClaims claims;
  claims.iss = claims.aud = grants_.issuer();
  claims.sub = request.identity.spiffeId;
  claims.jti = randomId();
  claims.decisionId = decisionId;
  claims.iat = claims.nbf = unixSeconds(now);
  std::int64_t ttl = config_.grants.maxTtl.count();
  std::uint32_t maxUses = config_.grants.maxUses;

  json results = json::array();
  json auditResults = json::array();
  std::set<std::string> allowedRefs;
  for (const auto& item : items) {
    json result = {{"index", item.index}};
    std::string reason = item.denyReason;
    json obligations;
    if (reason.empty()) {
      auto d = std::find_if(decisions.begin(), decisions.end(), [&](const Decision& x) { return x.index == item.index; });
      if (d == decisions.end()) {
        reason = "PDP_NO_DECISION";  // a missing answer is a deny
      } else if (!d->allow) {
        reason = d->reason.empty() ? "POLICY_DENIED" : d->reason;
      } else {
        obligations = parseInternalJson(d->obligationsJson);
        if (!obligations.is_object()) obligations = json::object();
        // Guardrails: the tightest of the items' obligations, never above the ceilings.
        if (obligations.contains("ttl_seconds") && obligations["ttl_seconds"].is_number_unsigned()) {
          ttl = std::min<std::int64_t>(ttl, obligations["ttl_seconds"].get<std::int64_t>());
        }
        if (obligations.contains("max_uses") && obligations["max_uses"].is_number_unsigned()) {
          maxUses = std::min<std::uint32_t>(maxUses, obligations["max_uses"].get<std::uint32_t>());
        }
      }
    }
    if (!item.resourceRef.empty()) result["resource_ref"] = item.resourceRef;
    if (reason.empty()) {
      result["decision"] = "allow";
      result["obligations"] = obligations;
      // Per resource, the actions allowed and each one's obligations; the first
      // allowed item of a (resource, action) pair sets them.
      json& actions = claims.obl[item.resourceRef];
      if (!actions.contains(item.action)) actions[item.action] = obligations;
      allowedRefs.insert(item.resourceRef);
    } else {
      result["decision"] = "deny";
      result["reason"] = reason;
    }
    json a = {{"index", item.index}, {"decision", result["decision"]}};
    auto fromPdp = std::find_if(decisions.begin(), decisions.end(), [&](const Decision& x) { return x.index == item.index; });
    if (fromPdp != decisions.end() && fromPdp->externalDecisionId) a["pdp_decision_id"] = *fromPdp->externalDecisionId;
    if (!item.resourceRef.empty()) a["resource_ref"] = item.resourceRef;
    if (!reason.empty()) a["reason"] = reason;
    auditResults.push_back(a);
    results.push_back(std::move(result));
  }

  json response = {{"decision_id", decisionId}, {"results", results}};
  json event = auditEvent("authorize", request);
  event["decision_id"] = decisionId;
  event["binding"] = jkt ? "dpop" : "mtls";
  event["results"] = auditResults;
  json refs = json::array();
  for (const auto& item : items) {
    if (!item.resourceRef.empty()) refs.push_back(item.resourceRef);
  }
  event["resource_refs"] = refs;
  event["decision"] = allowedRefs.empty() ? "deny" : (allowedRefs.size() == items.size() ? "allow" : "partial");
  event["outcome"] = allowedRefs.empty() ? "denied" : "granted";
  std::string grant;
  if (!allowedRefs.empty()) {
    claims.res.assign(allowedRefs.begin(), allowedRefs.end());
    claims.maxUses = std::max<std::uint32_t>(1, maxUses);
    claims.exp = claims.iat + std::max<std::int64_t>(1, ttl);
    if (jkt) {
      claims.cnfJkt = *jkt;
    } else {
      claims.cnfX5t = request.identity.certThumbprint;
    }
    auto signedGrant = grants_.sign(claims);
    if (!signedGrant) {
      logEvent(LogLevel::Error, "hsm_failure", {{"correlation_id", request.correlationId}, {"error", signedGrant.error().describe()}});
      return HttpError{ErrorCode::HsmUnavailable, "the HSM could not sign the grant"};
    }
    grant = std::move(*signedGrant);
    event["grant_id"] = claims.jti;
    event["max_uses"] = claims.maxUses;
    event["expires_at"] = rfc3339(claims.exp);
    response["grant"] = grant;
    response["grant_id"] = claims.jti;
    response["expires_at"] = rfc3339(claims.exp);
    response["max_uses"] = claims.maxUses;
  }
  // Sampling: only all-allow decisions may be left out, and the next logged event
  // counts them. Denials (any denied item) are always logged.
  if (config_.audit.sampleAllow > 1 && event["decision"] == "allow" &&
      sampleCounter_.fetch_add(1) % config_.audit.sampleAllow != 0) {
    audit_.sampledOut();
    return Response{200, response};
  }
  // Every decision is on the audit log before the caller sees it.
  if (auto logged = audit_.append(event.dump()); !logged) return auditFailure(logged.error());
  return Response{200, response};
}

std::optional<HttpError> PepApi::checkPresentation(const Request& request, const std::string& token,
                                                   const GrantClaims& claims) {
  // Only the holder may present it, over its bound certificate or with its DPoP key.
  if (claims.holder() != request.identity.spiffeId) {
    return HttpError{ErrorCode::BindingMismatch, "the grant is bound to another identity"};
  }
  if (claims.cnfX5t) {
    if (!constantTimeEquals(asBytes(*claims.cnfX5t), asBytes(request.identity.certThumbprint))) {
      return HttpError{ErrorCode::BindingMismatch, "the grant is bound to another certificate"};
    }
  } else if (claims.cnfJkt) {
    if (request.dpop.empty()) {
      HttpError err{ErrorCode::DpopInvalid, "this grant is DPoP-bound: send a DPoP proof"};
      err.headers["WWW-Authenticate"] = "DPoP error=\"invalid_dpop_proof\", algs=\"ES256\"";
      return err;
    }
    auto proof = checkDpop(request, token, claims.cnfJkt);
    if (!proof) {
      if (proof.error().code == ErrorCode::BindingMismatch) return HttpError{ErrorCode::BindingMismatch, proof.error().message};
      return dpopError(proof.error());
    }
  }
  // Otherwise a delegated grant bound to its holder's mTLS identity, checked above.
  return std::nullopt;
}

std::optional<HttpError> PepApi::checkIssuedAfterState(const GrantClaims& claims) const {
  // After the state was re-initialised it knows nothing of older grants' uses.
  if (Clock::time_point(std::chrono::seconds(claims.iat)) < state_.grantsIssuedFrom()) {
    return HttpError{ErrorCode::GrantPredatesState, "the grant was issued before the state was initialised; authorize again"};
  }
  return std::nullopt;
}

std::variant<GrantClaims, HttpError> PepApi::verifyPresented(const Request& request, const std::string& token) {
  auto claims = grants_.verify(token, clock_());
  if (!claims) return HttpError{claims.error().code, claims.error().message};
  if (auto err = checkPresentation(request, token, *claims)) return *err;
  if (auto err = checkIssuedAfterState(*claims)) return *err;
  return std::move(*claims);
}

std::variant<std::uint32_t, HttpError> PepApi::spendOneUse(const Request& request, const GrantClaims& claims,
                                                           json event) {
  // Atomically and durably; everything before this changed no state.
  auto remaining = state_.takeUses(
      StateStore::UseRequest{claims.jti, 1, claims.maxUses, grantStateKeepUntil(claims.exp), claims.anc});
  if (remaining) return *remaining;
  const Error& e = remaining.error();
  event["decision"] = "deny";
  event["reason"] = e.code;
  event["outcome"] = e.code;
  if (auto logged = audit_.append(event.dump()); !logged) return auditFailure(logged.error());
  if (auto refused = grantRefusal(e)) return *refused;
  return stateFailure(e, request.correlationId, "use counts cannot be updated; nothing was consumed");
}

HandlerResult PepApi::consume(Request& request) {
  if (auto err = checkFields(request.body, {"grant"}, {"grant"})) return *err;
  if (!request.body["grant"].is_string()) return HttpError{ErrorCode::InvalidRequest, "'grant' must be a string"};
  auto presented = verifyPresented(request, request.body["grant"]);
  if (auto* err = std::get_if<HttpError>(&presented)) return *err;
  const GrantClaims* claims = &std::get<GrantClaims>(presented);
  // Consuming is using: only the resources the grant allows `use` on.
  const std::vector<std::string> usable = claims->resourcesAllowing(kUseAction);
  if (usable.empty()) {
    return HttpError{grant_errc::kActionNotGranted, "the grant does not allow 'use' on any of its resources"};
  }

  json event = auditEvent("consume", request);
  event["grant_id"] = claims->jti;
  event["decision_id"] = claims->decisionId;
  event["resource_refs"] = claims->res;
  auto spent = spendOneUse(request, *claims, event);
  if (auto* err = std::get_if<HttpError>(&spent)) return *err;
  const std::uint32_t remaining = std::get<std::uint32_t>(spent);
  event["decision"] = "allow";
  event["outcome"] = "consumed";
  event["remaining_uses"] = remaining;
  if (auto logged = audit_.append(event.dump()); !logged) return auditFailure(logged.error());
  return Response{200, json{{"grant_id", claims->jti}, {"remaining_uses", remaining}, {"resources", usable}}};
}

HandlerResult PepApi::delegate(Request& request) {
  if (auto err = checkFields(request.body, {"grant", "to", "jkt", "max_uses", "resources", "actions", "ttl_seconds"},
                             {"grant", "to"})) {
    return *err;
  }
  const json& b = request.body;
  if (!b["grant"].is_string() || !b["to"].is_string() || (b.contains("jkt") && !b["jkt"].is_string()) ||
      (b.contains("max_uses") && !b["max_uses"].is_number_unsigned()) ||
      (b.contains("ttl_seconds") && !b["ttl_seconds"].is_number_unsigned()) ||
      (b.contains("resources") && !b["resources"].is_array()) ||
      (b.contains("actions") && (!b["actions"].is_array() || b["actions"].empty() || b["actions"].size() > 16))) {
    return HttpError{ErrorCode::InvalidRequest, "grant and to are strings, jkt a string, max_uses and ttl_seconds "
                                             "positive integers, resources an array of resource_refs, actions an "
                                             "array of 1-16 action names"};
  }
  for (const auto& a : b.value("actions", json::array())) {
    if (!a.is_string() || a.get<std::string>().empty()) {
      return HttpError{ErrorCode::InvalidRequest, "'actions' holds action names"};
    }
  }
  const std::string token = b["grant"];
  auto parent = grants_.verify(token, clock_());
  if (!parent) return HttpError{parent.error().code, parent.error().message};
  if (auto err = checkPresentation(request, token, *parent)) return *err;
  if (auto err = checkIssuedAfterState(*parent)) return *err;

  auto to = parseSpiffeId(b["to"].get<std::string>());
  if (!to || to->kind != IdentityKind::Service) return HttpError{ErrorCode::InvalidRequest, "'to' must be a service SPIFFE ID"};
  auto subject = parseSpiffeId(parent->sub);
  if (!subject || to->tenant != subject->tenant) {
    return HttpError{ErrorCode::ScopeWidened, "a grant cannot be delegated to another tenant"};
  }
  std::optional<std::string> jkt;
  if (b.contains("jkt")) {
    auto raw = decodeBase64UrlNoPad(b["jkt"].get<std::string>());
    if (!raw || raw->size() != 32) return HttpError{ErrorCode::InvalidRequest, "'jkt' must be an RFC 7638 SHA-256 thumbprint"};
    jkt = b["jkt"].get<std::string>();
  }

  // Guardrails: depth cap, and never wider, longer-lived or with more uses.
  std::size_t depth = 1;
  for (const json* a = &parent->act; a->is_object() && a->contains("act"); a = &(*a)["act"]) ++depth;
  if (parent->act.is_object()) ++depth;
  if (depth > config_.grants.maxDelegationDepth) {
    return HttpError{ErrorCode::DelegationDepth, "the delegation chain would exceed " +
                                                  std::to_string(config_.grants.maxDelegationDepth) + " hops"};
  }
  std::vector<std::string> res = parent->res;
  if (b.contains("resources")) {
    res.clear();
    for (const auto& r : b["resources"]) {
      if (!r.is_string()) return HttpError{ErrorCode::InvalidRequest, "'resources' holds resource_refs"};
      if (std::find(parent->res.begin(), parent->res.end(), r.get<std::string>()) == parent->res.end()) {
        return HttpError{ErrorCode::ScopeWidened, "a resource is not covered by the parent grant"};
      }
      if (std::find(res.begin(), res.end(), r.get<std::string>()) == res.end()) res.push_back(r);
    }
    if (res.empty()) return HttpError{ErrorCode::InvalidRequest, "'resources' must not be empty"};
  }
  const std::int64_t now = unixSeconds(clock_());
  std::int64_t exp = parent->exp;
  if (b.contains("ttl_seconds")) {
    const auto ttl = b["ttl_seconds"].get<std::int64_t>();
    if (ttl == 0) return HttpError{ErrorCode::InvalidRequest, "'ttl_seconds' must be positive"};
    if (now + ttl > parent->exp) return HttpError{ErrorCode::ScopeWidened, "the child would outlive the parent grant"};
    exp = now + ttl;
  }
  const std::uint32_t uses = b.contains("max_uses") ? b["max_uses"].get<std::uint32_t>() : 1;
  if (uses == 0 || uses > parent->maxUses) return HttpError{ErrorCode::ScopeWidened, "more uses than the parent grant has"};
  // Actions only narrow: the child gets the parent's actions on each resource,
  // or the ones asked for, each of which the parent must allow there.
  json childObl = json::object();
  for (const auto& r : res) {
    json actions = parent->obl[r];
    if (b.contains("actions")) {
      actions = json::object();
      for (const auto& a : b["actions"]) {
        const json* obligations = parent->allowed(r, a.get<std::string>());
        if (!obligations) return HttpError{ErrorCode::ScopeWidened, "an action the parent grant does not allow"};
        actions[a.get<std::string>()] = *obligations;
      }
    }
    childObl[r] = std::move(actions);
  }

  // The child's uses are taken from the parent now, all or nothing (and not at
  // all when the parent or one of its ancestors is revoked).
  auto reserved = state_.takeUses(
      StateStore::UseRequest{parent->jti, uses, parent->maxUses, grantStateKeepUntil(parent->exp), parent->anc});
  if (!reserved) {
    if (reserved.error().code == state_errc::kGrantExhausted) {
      return HttpError{ErrorCode::ScopeWidened, "more uses than remain on the parent grant"};
    }
    if (auto refused = grantRefusal(reserved.error())) return *refused;
    return stateFailure(reserved.error(), request.correlationId, "use counts cannot be updated; nothing was delegated");
  }

  GrantClaims child;
  child.iss = child.aud = grants_.issuer();
  child.sub = parent->sub;
  child.act = json{{"sub", to->spiffeId}};  // RFC 8693: the current actor outermost
  if (parent->act.is_object()) child.act["act"] = parent->act;
  child.jti = randomId();
  child.decisionId = parent->decisionId;
  child.iat = child.nbf = now;
  child.exp = exp;
  child.res = res;
  child.maxUses = uses;
  child.obl = std::move(childObl);
  child.anc = parent->anc;
  child.anc.push_back(parent->jti);
  child.cnfJkt = jkt;
  auto signedChild = grants_.sign(child);
  if (!signedChild) return HttpError{ErrorCode::HsmUnavailable, "the HSM could not sign the grant"};
  json event = auditEvent("delegate", request);
  event["decision_id"] = parent->decisionId;
  event["parent_grant_id"] = parent->jti;
  event["grant_id"] = child.jti;
  event["to"] = to->spiffeId;
  event["max_uses"] = uses;
  event["resource_refs"] = res;
  event["depth"] = depth;
  event["decision"] = "allow";
  event["outcome"] = "delegated";
  if (auto logged = audit_.append(event.dump()); !logged) return auditFailure(logged.error());
  return Response{200, json{{"grant", *signedChild}, {"grant_id", child.jti}, {"expires_at", rfc3339(exp)},
                            {"max_uses", uses}, {"parent_remaining_uses", *reserved}}};
}

}  // namespace sealgate::appliance

namespace sealgate::appliance {

std::vector<std::string> PepApi::acceptedNonces() {
  constexpr auto kNonceLifetime = std::chrono::minutes(5);
  std::lock_guard lock(nonceMu_);
  const auto now = clock_();
  if (nonce_.empty() || now - nonceIssued_ >= kNonceLifetime) {
    previousNonce_ = nonce_;
    std::uint8_t raw[16];
    RAND_bytes(raw, sizeof raw);
    nonce_ = base64UrlNoPad(raw);
    nonceIssued_ = now;
  }
  return previousNonce_.empty() ? std::vector<std::string>{nonce_} : std::vector<std::string>{nonce_, previousNonce_};
}

Result<DpopResult> PepApi::checkDpop(const Request& request, std::optional<std::string> accessToken,
                                     std::optional<std::string> expectedJkt) {
  DpopCheck check{request.dpop, request.method, expectedHtu(request), std::move(accessToken), std::move(expectedJkt),
                  config_.grants.dpopNonce ? acceptedNonces() : std::vector<std::string>{}};
  DpopPolicy policy;
  policy.maxAge = config_.grants.dpopIatWindow;
  return verifyDpopProof(check, policy, state_, clock_());
}

}  // namespace sealgate::appliance
