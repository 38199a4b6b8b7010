#include "appliance/grants/pep_api.h"

#include <openssl/rand.h>

#include <algorithm>

#include "appliance/audit/audit_http.h"
#include "appliance/grants/delegation.h"
#include "appliance/server/request_bodies.h"
#include "appliance/telemetry/logging.h"
#include "core/encoding.h"
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

HttpError hsmFailure(const Request& request, const Error& e, const char* what) {
  logEvent(LogLevel::Error, "hsm_failure", {{"correlation_id", request.correlationId}, {"error", e.describe()}});
  return HttpError{ErrorCode::HsmUnavailable, what};
}

json resourceRefsOf(const std::vector<AuthorizeItem>& items) {
  json refs = json::array();
  for (const auto& item : items) {
    if (!item.resourceRef.empty()) refs.push_back(item.resourceRef);
  }
  return refs;
}

}  // namespace

PepApi::PepApi(const Config& config, ResourceRefs& refs, GrantAuthority& grants, DecisionPoint& pdp, StateStore& state,
               AuditSink& audit, GrantPresentation& presentation, const BreakGlassWindows* windows, Metrics* metrics)
    : config_(config),
      refs_(refs),
      grants_(grants),
      pdp_(pdp),
      state_(state),
      audit_(audit),
      presentation_(presentation),
      windows_(windows),
      metrics_(metrics) {}

HandlerResult PepApi::jwks(Request&) { return Response{200, grants_.jwks()}; }

std::optional<HttpError> PepApi::resolveRefs(const Request& request, std::vector<AuthorizeItem>& items) {
  for (auto& item : items) {
    if (!item.uri) continue;
    auto ref = refs_.of(*item.uri);
    if (!ref) return hsmFailure(request, ref.error(), "the HSM could not compute a resource_ref");
    item.resourceRef = *ref;
  }
  return std::nullopt;
}

// One call for the whole batch, within pdp.timeout; no answer denies it all.
std::variant<std::vector<Decision>, HttpError> PepApi::decide(const Request& request,
                                                              const std::vector<AuthorizeItem>& items) {
  const auto asks = decisionRequestsOf(items);
  if (asks.empty()) return std::vector<Decision>{};
  const DecisionSubject subject{request.identity.spiffeId, request.identity.tenant, request.identity.service};
  auto decided = pdp_.decide(subject, asks, config_.pdp.timeout);
  if (decided) return std::move(*decided);
  logEvent(LogLevel::Error, "pdp_failure",
           {{"correlation_id", request.correlationId}, {"error", decided.error().describe()}});
  return HttpError{ErrorCode::PdpUnavailable, "the policy decision point did not answer; nothing was granted"};
}

// Without windows, or when none covers an item, this is the decision as the PDP
// gave it; a PDP failure fails the whole batch unless a window lets an item through.
std::variant<BatchOutcome, HttpError> PepApi::combine(const Request& request, const std::vector<AuthorizeItem>& items,
                                                      std::variant<std::vector<Decision>, HttpError> decisions,
                                                      std::int64_t now) {
  const GrantCeilings ceilings{config_.grants.maxTtl.count(), config_.grants.maxUses};
  WindowLookup windows;
  if (windows_ != nullptr) {
    windows = [&](const AuthorizeItem& item, bool pdpDenied) -> std::optional<OpenBreakGlassWindow> {
      auto window = windows_->windowFor(request.identity.tenant, item.uri->canonical(), item.action, pdpDenied, now);
      // A window ending now would leave the grant no lifetime: the item stays denied.
      if (window && window->endsAt <= now) return std::nullopt;
      return window;
    };
  }
  if (auto* failed = std::get_if<HttpError>(&decisions)) {
    if (!windows) return std::move(*failed);
    BatchOutcome outcome = combineWithoutPdp(items, ceilings, windows);
    if (!outcome.window) return std::move(*failed);
    return outcome;
  }
  return combineDecisions(items, std::get<std::vector<Decision>>(decisions), ceilings, windows);
}

GrantClaims PepApi::claimsFor(const Request& request, const BatchOutcome& outcome, const std::string& decisionId,
                              const std::optional<std::string>& jkt, std::int64_t now) const {
  GrantClaims claims;
  claims.iss = claims.aud = grants_.issuer();
  claims.sub = request.identity.spiffeId;
  claims.jti = randomId();
  claims.decisionId = decisionId;
  claims.iat = claims.nbf = now;
  claims.exp = claims.iat + outcome.ttlSeconds;
  if (outcome.window) {
    // Issued in a break-glass window: tied to it, and expiring by its end.
    claims.bg = outcome.window->id;
    claims.exp = std::min(claims.exp, outcome.window->endsAt);
  }
  claims.res.assign(outcome.allowedRefs.begin(), outcome.allowedRefs.end());
  claims.obl = outcome.obligations;
  claims.maxUses = outcome.maxUses;
  if (jkt) {
    claims.cnfJkt = *jkt;
  } else {
    claims.cnfX5t = request.identity.certThumbprint;
  }
  return claims;
}

std::variant<std::string, HttpError> PepApi::sign(const Request& request, const GrantClaims& claims) {
  auto signedGrant = grants_.sign(claims);
  if (!signedGrant) return hsmFailure(request, signedGrant.error(), "the HSM could not sign the grant");
  return std::move(*signedGrant);
}

std::optional<HttpError> PepApi::recordDecision(const json& event) {
  if (config_.audit.sampleAllow > 1 && event["decision"] == "allow" && !event.contains("breakglass") &&
      sampleCounter_.fetch_add(1) % config_.audit.sampleAllow != 0) {
    audit_.sampledOut();  // the next logged event counts it
    return std::nullopt;
  }
  if (auto logged = audit_.append(event.dump()); !logged) return auditFailure(logged.error());
  return std::nullopt;
}

HandlerResult PepApi::authorize(Request& request) {
  auto parsed = parseAuthorizeBody(request.body, request.identity.tenant, config_.grants.maxBatch);
  if (!parsed) return HttpError{parsed.error().code, parsed.error().message};
  std::vector<AuthorizeItem>& items = *parsed;
  // Binding: a DPoP proof on this request binds the grant to its key, else the certificate.
  auto proofKey = presentation_.proofKey(request);
  if (auto* err = std::get_if<HttpError>(&proofKey)) return *err;
  const std::optional<std::string> jkt = std::get<std::optional<std::string>>(proofKey);
  if (auto err = resolveRefs(request, items)) return *err;
  auto decisions = decide(request, items);
  // One instant for the windows and the grant's lifetime.
  const std::int64_t now = unixSeconds(presentation_.now());
  auto combined = combine(request, items, std::move(decisions), now);
  if (auto* err = std::get_if<HttpError>(&combined)) return *err;
  const BatchOutcome& outcome = std::get<BatchOutcome>(combined);

  const std::string decisionId = randomId();
  json response = {{"decision_id", decisionId}, {"results", outcome.results}};
  json event = auditEvent("authorize", actorOf(request));
  event["decision_id"] = decisionId;
  event["binding"] = jkt ? "dpop" : "mtls";
  event["results"] = outcome.auditResults;
  event["resource_refs"] = resourceRefsOf(items);
  event["decision"] = outcome.decision(items.size());
  event["outcome"] = outcome.allowedRefs.empty() ? "denied" : "granted";
  if (outcome.window) event["breakglass"] = outcome.window->id;
  if (!outcome.allowedRefs.empty()) {
    const GrantClaims claims = claimsFor(request, outcome, decisionId, jkt, now);
    auto grant = sign(request, claims);
    if (auto* err = std::get_if<HttpError>(&grant)) return *err;
    event["grant_id"] = claims.jti;
    event["max_uses"] = claims.maxUses;
    event["expires_at"] = rfc3339Seconds(claims.exp);
    response["grant"] = std::move(std::get<std::string>(grant));
    response["grant_id"] = claims.jti;
    response["expires_at"] = rfc3339Seconds(claims.exp);
    response["max_uses"] = claims.maxUses;
  }
  if (auto err = recordDecision(event)) return *err;
  if (metrics_ != nullptr) {
    metrics_->add("sealgate_authorize_decisions_total", "authorize requests answered, by decision",
                  {{"decision", event["decision"].get<std::string>()}});
  }
  if (outcome.window) {
    logEvent(LogLevel::Warn, "breakglass_grant",
             {{"window_id", outcome.window->id},
              {"grant_id", event["grant_id"]},
              {"correlation_id", request.correlationId}});
  }
  return Response{200, response};
}

HandlerResult PepApi::counted(const char* operation, HandlerResult result) {
  if (metrics_ != nullptr) {
    const auto* error = std::get_if<HttpError>(&result);
    metrics_->add("sealgate_grant_presentations_total", "consume and delegate requests, by outcome",
                  {{"operation", operation}, {"outcome", error != nullptr ? errorCodeName(error->code) : "ok"}});
  }
  return result;
}

HandlerResult PepApi::consume(Request& request) { return counted("consume", consumeGrant(request)); }

HandlerResult PepApi::delegate(Request& request) { return counted("delegate", delegateGrant(request)); }

HandlerResult PepApi::consumeGrant(Request& request) {
  if (auto err = checkFields(request.body, {"grant"}, {"grant"})) return *err;
  if (!request.body["grant"].is_string()) return HttpError{ErrorCode::InvalidRequest, "'grant' must be a string"};
  auto presented = presentation_.verify(request, request.body["grant"]);
  if (auto* err = std::get_if<HttpError>(&presented)) return *err;
  const GrantClaims& claims = std::get<GrantClaims>(presented);
  // Consuming is using: only the resources the grant allows `use` on.
  const std::vector<std::string> usable = claims.resourcesAllowing(kUseAction);
  if (usable.empty()) {
    return HttpError{grant_errc::kActionNotGranted, "the grant does not allow 'use' on any of its resources"};
  }

  json event = auditEvent("consume", actorOf(request));
  event["grant_id"] = claims.jti;
  event["decision_id"] = claims.decisionId;
  event["resource_refs"] = claims.res;
  auto spent = presentation_.spendOneUse(request, claims, event);
  if (auto* err = std::get_if<HttpError>(&spent)) return *err;
  const std::uint32_t remaining = std::get<std::uint32_t>(spent);
  event["decision"] = "allow";
  event["outcome"] = "consumed";
  event["remaining_uses"] = remaining;
  if (auto logged = audit_.append(event.dump()); !logged) return auditFailure(logged.error());
  return Response{200, json{{"grant_id", claims.jti}, {"remaining_uses", remaining}, {"resources", usable}}};
}

HandlerResult PepApi::delegateGrant(Request& request) {
  if (auto err = checkFields(request.body, {"grant", "to", "jkt", "max_uses", "resources", "actions", "ttl_seconds"},
                             {"grant", "to"})) {
    return *err;
  }
  auto ask = parseDelegationAsk(request.body);
  if (!ask) return HttpError{ask.error().code, ask.error().message};
  auto presented = presentation_.verify(request, ask->grant);
  if (auto* err = std::get_if<HttpError>(&presented)) return *err;
  const GrantClaims& parent = std::get<GrantClaims>(presented);
  const std::int64_t now = unixSeconds(presentation_.now());
  auto plan = planChildGrant(parent, *ask, now, config_.grants.maxDelegationDepth);
  if (!plan) return HttpError{plan.error().code, plan.error().message};

  // The child's uses are taken from the parent now, all or nothing (and not at
  // all when the parent or one of its ancestors is revoked).
  auto reserved = state_.takeUses(StateStore::UseRequest{
      parent.jti, plan->uses, parent.maxUses, grantStateKeepUntil(parent.exp), parent.anc, bindingOf(parent)});
  if (!reserved) {
    if (reserved.error().code == state_errc::kGrantExhausted) {
      return HttpError{ErrorCode::ScopeWidened, "more uses than remain on the parent grant"};
    }
    if (auto refused = grantRefusal(reserved.error())) return *refused;
    return stateFailure(reserved.error(), request.correlationId, "use counts cannot be updated; nothing was delegated");
  }

  const GrantClaims child = childClaims(parent, *plan, randomId(), now);
  auto signedChild = sign(request, child);
  if (auto* err = std::get_if<HttpError>(&signedChild)) return *err;
  json event = auditEvent("delegate", actorOf(request));
  markBreakGlass(event, parent);  // the child inherits the parent's window
  event["decision_id"] = parent.decisionId;
  event["parent_grant_id"] = parent.jti;
  event["grant_id"] = child.jti;
  event["to"] = plan->to;
  event["max_uses"] = plan->uses;
  event["resource_refs"] = plan->res;
  event["depth"] = plan->depth;
  event["decision"] = "allow";
  event["outcome"] = "delegated";
  if (auto logged = audit_.append(event.dump()); !logged) return auditFailure(logged.error());
  return Response{200, json{{"grant", std::move(std::get<std::string>(signedChild))},
                            {"grant_id", child.jti},
                            {"expires_at", rfc3339Seconds(plan->exp)},
                            {"max_uses", plan->uses},
                            {"parent_remaining_uses", *reserved}}};
}

}  // namespace sealgate::appliance
