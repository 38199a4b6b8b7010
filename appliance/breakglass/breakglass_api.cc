#include "appliance/breakglass/breakglass_api.h"

#include <openssl/crypto.h>

#include "appliance/audit/audit_http.h"
#include "appliance/telemetry/logging.h"
#include "core/encoding.h"
#include "core/signed_note.h"
#include "core/wipe.h"

namespace sealgate::appliance::breakglass {

using nlohmann::json;

namespace {

HttpError errorOf(const Error& e) { return HttpError{e.code, e.message}; }

// A required standard-base64 field of the body, at most `maxBytes` decoded.
std::variant<Bytes, HttpError> bytesField(const json& body, const char* name, std::size_t maxBytes = 4096) {
  if (!body.contains(name) || !body[name].is_string()) {
    return HttpError{ErrorCode::InvalidRequest, std::string("'") + name + "' must be a base64 string"};
  }
  const auto& text = body[name].get_ref<const std::string&>();
  auto bytes = text.size() <= (maxBytes + 2) / 3 * 4 ? note::decodeBase64Std(text) : std::nullopt;
  if (!bytes || bytes->empty() || bytes->size() > maxBytes) {
    return HttpError{ErrorCode::InvalidRequest, std::string("'") + name + "' is not standard base64 of a valid size"};
  }
  return std::move(*bytes);
}

// The approver routes under .../approvers/{name}/... are for approver/<name> itself.
std::optional<HttpError> requireApproverSelf(const HttpRequest& request) {
  if (request.identity.role != "approver" || request.identity.name != request.pathParam) {
    return HttpError{ErrorCode::Forbidden, "only the approver's own certificate may enrol its device"};
  }
  return std::nullopt;
}

// What an audit event says about a request: its id, digest and scope (never
// a secret: the prefixes name mounts and paths, no field or version).
json requestFacts(const Request& r) {
  json facts = {{"request_id", r.id},
                {"digest", hexLower(requestDigest(r))},
                {"scope_tenant", r.ask.tenant},
                {"mode", modeName(r.ask.mode)},
                {"actions", r.ask.actions},
                {"uri_prefixes", r.ask.uriPrefixes},
                {"duration_seconds", r.ask.durationSeconds},
                {"requester", r.requester}};
  if (isApproverChange(r.ask.mode)) facts["approver"] = r.ask.approver;
  return facts;
}

json approversOf(const Request& r) {
  json names = json::array();
  for (const auto& a : r.approvals) names.push_back(a.approver);
  return names;
}

const Actor kSystemActor{"", "sealgated", "", "", ""};

}  // namespace

BreakGlassApi::BreakGlassApi(BreakGlass& service, Approvers& approvers, AuditSink& audit, Clock now)
    : service_(service), approvers_(approvers), audit_(audit), now_(std::move(now)) {}

HandlerResult BreakGlassApi::createRequest(HttpRequest& request) {
  auto ask = parseAsk(request.body, service_.settings().maxDurationSeconds);
  if (!ask) return errorOf(ask.error());
  auto created = service_.create(request.identity.spiffeId, std::move(*ask), now_());
  if (!created) return errorOf(created.error());
  json event = requestFacts(*created);
  event["type"] = "breakglass_request";
  event["reason"] = created->ask.reason;
  event["expires_at"] = created->expiresAt;
  event["outcome"] = "created";
  if (!appendAuditEvent(audit_, actorOf(request), event)) {
    return auditUnavailable("the request " + created->id +
                            " was stored but the audit log cannot record its creation (its opening, if "
                            "approved, records the whole request)");
  }
  return Response{201, toApiJson(*created, now_(), service_.settings().quorum)};
}

HandlerResult BreakGlassApi::listRequests(HttpRequest&) {
  const std::int64_t now = now_();
  json out = json::array();
  for (const auto& r : service_.list()) out.push_back(toApiJson(r, now, service_.settings().quorum));
  return Response{200, json{{"requests", std::move(out)}}};
}

HandlerResult BreakGlassApi::getRequest(HttpRequest& request) {
  auto found = service_.find(request.pathParam);
  if (!found) return HttpError{ErrorCode::BreakglassRequestUnknown, "no such break-glass request"};
  return Response{200, toApiJson(*found, now_(), service_.settings().quorum)};
}

HandlerResult BreakGlassApi::approve(HttpRequest& request) {
  if (auto err = checkFields(request.body, {"attest", "signature"}, {"attest", "signature"})) return *err;
  auto attest = bytesField(request.body, "attest");
  if (auto* err = std::get_if<HttpError>(&attest)) return *err;
  auto signature = bytesField(request.body, "signature");
  if (auto* err = std::get_if<HttpError>(&signature)) return *err;
  const Actor actor = actorOf(request);
  json event = {{"type", "breakglass_approval"}, {"request_id", request.pathParam}};
  auto outcome = service_.approve(request.identity.spiffeId, request.pathParam, std::get<Bytes>(attest),
                                  std::get<Bytes>(signature), now_());
  if (!outcome) {
    // A refused approval (a replayed or foreign quote, a self-approval) is evidence: record it.
    event["outcome"] = "refused";
    event["reason"] = errorCodeName(outcome.error().code);
    (void)appendAuditEvent(audit_, actor, event);
    return errorOf(outcome.error());
  }
  const Request& r = outcome->request;
  event["outcome"] = "approved";
  event["digest"] = hexLower(requestDigest(r));
  event["ak_fingerprint"] = r.approvals.back().akFingerprint;
  event["approvals"] = r.approvals.size();
  event["approvals_needed"] =
      r.approvals.size() >= service_.settings().quorum ? 0 : service_.settings().quorum - r.approvals.size();
  if (!appendAuditEvent(audit_, actor, event)) {
    if (outcome->opened) (void)service_.close(r.id, "audit-unavailable", now_());
    return auditUnavailable("the approval was stored but the audit log cannot record it" +
                            std::string(outcome->opened ? "; the window it opened was closed again" : ""));
  }
  if (outcome->opened) {
    if (auto err = recordOpened(r, actor)) return *err;
  }
  json out = toApiJson(r, now_(), service_.settings().quorum);
  out["opened"] = outcome->opened;
  return Response{200, std::move(out)};
}

std::optional<HttpError> BreakGlassApi::recordOpened(const Request& r, const appliance::Actor& actor) {
  json event = requestFacts(r);
  event["type"] = "breakglass_opened";
  event["opens_at"] = r.opensAt;
  event["ends_at"] = r.endsAt;
  event["approvers"] = approversOf(r);
  event["outcome"] = "opened";
  if (!appendAuditEvent(audit_, actor, event)) {
    (void)service_.close(r.id, "audit-unavailable", now_());
    logEvent(LogLevel::Error, "breakglass_open_unrecorded",
             {{"request_id", r.id}, {"effect", "the window was closed again: none is open unaudited"}});
    return auditUnavailable("the audit log cannot record the window's opening; the window was closed again");
  }
  logEvent(LogLevel::Warn, "breakglass_opened",
           {{"request_id", r.id},
            {"tenant", r.ask.tenant},
            {"mode", modeName(r.ask.mode)},
            {"ends_at", r.endsAt},
            {"approvers", approversOf(r)}});
  return std::nullopt;
}

void BreakGlassApi::recordClosed(const Request& r, const appliance::Actor& actor, const std::string& reason) {
  json event = requestFacts(r);
  if (!reason.empty()) event["close_reason"] = reason;
  event["type"] = "breakglass_closed";
  event["ended_by"] = r.endedBy;
  event["ends_at"] = r.endsAt;
  event["outcome"] = "closed";
  // The window is closed whether or not this is recorded (closing fails safe);
  // appendAuditEvent logs a failure.
  (void)appendAuditEvent(audit_, actor, event);
  logEvent(LogLevel::Warn, "breakglass_closed",
           {{"request_id", r.id}, {"tenant", r.ask.tenant}, {"ended_by", r.endedBy}, {"ends_at", r.endsAt}});
}

// An approved approver change is used once: done, its window closes.
void BreakGlassApi::closeApproverChange(const std::string& approver, Mode change, const HttpRequest& request) {
  const auto id = service_.approverChangeWindow(approver, change, now_());
  if (!id) return;
  auto closed = service_.close(*id, request.identity.spiffeId, now_());
  if (closed) recordClosed(*closed, actorOf(request));
}

HandlerResult BreakGlassApi::closeWindow(HttpRequest& request) {
  auto reason = reasonFromQuery(request);
  if (!reason) return HttpError{reason.error().code, reason.error().message};
  auto closed = service_.close(request.pathParam, request.identity.spiffeId, now_());
  if (!closed) return errorOf(closed.error());
  recordClosed(*closed, actorOf(request), *reason);
  return Response{200, toApiJson(*closed, now_(), service_.settings().quorum)};
}

void BreakGlassApi::settle() {
  auto ended = service_.settle(now_());
  if (!ended) {
    logEvent(LogLevel::Error, "breakglass_settle_failed",
             {{"code", ended.error().code},
              {"error", ended.error().describe()},
              {"effect", "ended windows stay closed (their end is in the record); retried"}});
    return;
  }
  for (const auto& r : *ended) recordClosed(r, kSystemActor);
}

std::size_t BreakGlassApi::openWindows() const { return service_.openWindows(now_()); }

HandlerResult BreakGlassApi::createApprover(HttpRequest& request) {
  if (auto err = checkFields(request.body, {"name", "pcrs"}, {"name"})) return *err;
  if (!request.body["name"].is_string()) return HttpError{ErrorCode::InvalidRequest, "'name' must be a string"};
  std::vector<unsigned> pcrs;
  if (request.body.contains("pcrs")) {
    const json& list = request.body["pcrs"];
    if (!list.is_array() || list.empty() || list.size() > 24) {
      return HttpError{ErrorCode::InvalidRequest, "'pcrs' must be a non-empty array of PCR indices"};
    }
    for (const auto& p : list) {
      if (!p.is_number_integer() || p.get<std::int64_t>() < 0 || p.get<std::int64_t>() > 23) {
        return HttpError{ErrorCode::InvalidRequest, "'pcrs' entries must be 0..23"};
      }
      pcrs.push_back(p.get<unsigned>());
    }
  }
  const std::string name = request.body["name"].get<std::string>();
  auto created = approvers_.createPending(name, request.identity.spiffeId, pcrs, now_());
  if (!created) return errorOf(created.error());
  if (!appendAuditEvent(audit_, actorOf(request),
                        json{{"type", "breakglass_approver"}, {"approver", name}, {"outcome", "pending"}})) {
    return auditUnavailable("the pending enrolment was stored but the audit log cannot record it");
  }
  return Response{201, toApiJson(*created)};
}

HandlerResult BreakGlassApi::submitDevice(HttpRequest& request) {
  if (auto err = requireApproverSelf(request)) return *err;
  if (auto err = checkFields(request.body, {"ek_certificate", "ek_public", "ak_public"},
                             {"ek_certificate", "ek_public", "ak_public"})) {
    return *err;
  }
  auto ekCertificate = bytesField(request.body, "ek_certificate", 8192);
  if (auto* err = std::get_if<HttpError>(&ekCertificate)) return *err;
  auto ekPublic = bytesField(request.body, "ek_public");
  if (auto* err = std::get_if<HttpError>(&ekPublic)) return *err;
  auto akPublic = bytesField(request.body, "ak_public");
  if (auto* err = std::get_if<HttpError>(&akPublic)) return *err;
  const std::string& name = request.pathParam;
  json event = {{"type", "breakglass_approver"}, {"approver", name}};
  auto issued = approvers_.submitDevice(name, std::get<Bytes>(ekCertificate), std::get<Bytes>(ekPublic),
                                        std::get<Bytes>(akPublic), now_());
  if (!issued) {
    event["outcome"] = "device_refused";
    event["reason"] = errorCodeName(issued.error().code);
    (void)appendAuditEvent(audit_, actorOf(request), event);
    return errorOf(issued.error());
  }
  event["outcome"] = "challenged";
  if (auto found = approvers_.find(name)) event["ak_fingerprint"] = found->akFingerprint;
  if (!appendAuditEvent(audit_, actorOf(request), event)) {
    return auditUnavailable("the device was checked but the audit log cannot record it; submit it again later");
  }
  return Response{200, json{{"credential_blob", base64Std(issued->credentialBlob)},
                            {"encrypted_secret", base64Std(issued->encryptedSecret)},
                            {"expires_at", issued->expiresAt}}};
}

HandlerResult BreakGlassApi::activate(HttpRequest& request) {
  if (auto err = requireApproverSelf(request)) return *err;
  if (auto err = checkFields(request.body, {"secret", "attest", "signature"}, {"secret", "attest", "signature"})) {
    return *err;
  }
  auto secretBytes = bytesField(request.body, "secret", 64);
  if (auto* err = std::get_if<HttpError>(&secretBytes)) return *err;
  auto secret = Secret::copyFrom(std::get<Bytes>(secretBytes));
  OPENSSL_cleanse(std::get<Bytes>(secretBytes).data(), std::get<Bytes>(secretBytes).size());
  wipeString(request.body["secret"].get_ref<std::string&>());
  if (!secret) return errorOf(secret.error());
  auto attest = bytesField(request.body, "attest");
  if (auto* err = std::get_if<HttpError>(&attest)) return *err;
  auto signature = bytesField(request.body, "signature");
  if (auto* err = std::get_if<HttpError>(&signature)) return *err;
  const std::string& name = request.pathParam;
  json event = {{"type", "breakglass_approver"}, {"approver", name}};
  auto enrolled = approvers_.activate(name, *secret, std::get<Bytes>(attest), std::get<Bytes>(signature), now_());
  if (!enrolled) {
    event["outcome"] = "activation_refused";
    event["reason"] = errorCodeName(enrolled.error().code);
    (void)appendAuditEvent(audit_, actorOf(request), event);
    return errorOf(enrolled.error());
  }
  event["outcome"] = "enrolled";
  event["ak_fingerprint"] = enrolled->akFingerprint;
  event["pcrs"] = enrolled->pcrs;
  const bool logged = appendAuditEvent(audit_, actorOf(request), event).ok();
  closeApproverChange(name, Mode::EnrolApprover, request);
  if (!logged) return auditUnavailable("the approver was enrolled but the audit log cannot record it");
  return Response{200, toApiJson(*enrolled)};
}

HandlerResult BreakGlassApi::listApprovers(HttpRequest&) {
  json out = json::array();
  for (const auto& a : approvers_.list()) out.push_back(toApiJson(a));
  return Response{200, json{{"approvers", std::move(out)}, {"quorum", service_.settings().quorum}}};
}

HandlerResult BreakGlassApi::removeApprover(HttpRequest& request) {
  const std::string& name = request.pathParam;
  if (auto removed = approvers_.remove(name); !removed) return errorOf(removed.error());
  const bool logged =
      appendAuditEvent(audit_, actorOf(request),
                       json{{"type", "breakglass_approver"}, {"approver", name}, {"outcome", "removed"}})
          .ok();
  closeApproverChange(name, Mode::RemoveApprover, request);
  if (!logged) return auditUnavailable("the approver was removed but the audit log cannot record it");
  return Response{200, json{{"name", name}, {"removed", true}}};
}

void addBreakGlassRoutes(std::vector<Route>& routes, BreakGlassApi* api) {
  using Method = HandlerResult (BreakGlassApi::*)(HttpRequest&);
  const auto add = [&](const char* method, const char* path, std::set<std::string> roles, bool body, Method m) {
    Handler handler = [api, m](HttpRequest& r) -> HandlerResult {
      if (api == nullptr) {
        return HttpError{ErrorCode::BreakglassDisabled, "break-glass is not configured (breakglass.* in the config)"};
      }
      return (api->*m)(r);
    };
    routes.push_back(Route{method, path, Access::Admin, std::move(roles), body, std::move(handler)});
  };
  const std::set<std::string> everyRole = {"admin", "auditor", "approver"};
  add("POST", "/admin/v1/breakglass/requests", {"admin"}, true, &BreakGlassApi::createRequest);
  add("GET", "/admin/v1/breakglass/requests", everyRole, false, &BreakGlassApi::listRequests);
  add("GET", "/admin/v1/breakglass/requests/{id}", everyRole, false, &BreakGlassApi::getRequest);
  add("POST", "/admin/v1/breakglass/requests/{id}/approvals", {"approver"}, true, &BreakGlassApi::approve);
  add("DELETE", "/admin/v1/breakglass/active/{id}", {"admin"}, false, &BreakGlassApi::closeWindow);
  add("POST", "/admin/v1/breakglass/approvers", {"admin"}, true, &BreakGlassApi::createApprover);
  add("GET", "/admin/v1/breakglass/approvers", everyRole, false, &BreakGlassApi::listApprovers);
  add("DELETE", "/admin/v1/breakglass/approvers/{id}", {"admin"}, false, &BreakGlassApi::removeApprover);
  add("POST", "/admin/v1/breakglass/approvers/{id}/device", {"approver"}, true, &BreakGlassApi::submitDevice);
  add("POST", "/admin/v1/breakglass/approvers/{id}/activate", {"approver"}, true, &BreakGlassApi::activate);
}

}  // namespace sealgate::appliance::breakglass
