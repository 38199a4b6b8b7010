#include "appliance/rotation/key_rotation_api.h"

#include "appliance/audit/audit_http.h"
#include "appliance/telemetry/logging.h"
#include "core/secret_uri.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

// A rotation's error as the API answers it: the API's codes (its own, the
// state's, the audit log's) as they are; the HSM's as HSM_UNAVAILABLE; anything
// else (the certificate in use unreadable: TLS_CONFIG) as 500 INTERNAL, logged.
HttpError answer(const Request& request, const Error& e) {
  if (isApiCode(e.code)) return HttpError{e.code, e.message};
  if (std::string_view(errorCodeName(e.code)).starts_with("HSM_")) {
    logEvent(LogLevel::Error, "hsm_failure", {{"correlation_id", request.correlationId}, {"error", e.describe()}});
    return HttpError{ErrorCode::HsmUnavailable, "the HSM could not complete the key operation"};
  }
  return HttpError{e.code, e.message};
}

std::variant<std::string, HttpError> stringField(const Request& request, const char* name) {
  if (auto err = checkFields(request.body, {name}, {name})) return *err;
  if (!request.body[name].is_string()) {
    return HttpError{ErrorCode::InvalidRequest, std::string("'") + name + "' must be a string"};
  }
  return request.body[name].get<std::string>();
}

}  // namespace

KeyRotationApi::KeyRotationApi(KeyRotation& rotation, AuditSink& audit)
    : rotation_(rotation), audit_(audit), clock_([] {
        return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
      }) {}

HandlerResult KeyRotationApi::inventory(Request& request) {
  auto keys = rotation_.inventory();
  if (!keys) return answer(request, keys.error());
  return Response{200, std::move(*keys)};
}

HandlerResult KeyRotationApi::rotate(Request& request) {
  auto kindName = stringField(request, "kind");
  if (auto* err = std::get_if<HttpError>(&kindName)) return *err;
  const auto kind = versionedKeyFromName(std::get<std::string>(kindName));
  if (!kind) return HttpError{ErrorCode::InvalidRequest, "'kind' is one of ref-hmac, grant, audit, tls"};
  auto reason = reasonFromQuery(request);
  if (!reason) return HttpError{reason.error().code, reason.error().message};
  auto rotated = rotation_.rotate(*kind, actorOf(request), *reason, clock_());
  if (!rotated) return answer(request, rotated.error());
  json out = {{"kind", versionedKeyName(*kind)}, {"label", rotated->label}, {"previous", rotated->previous}};
  if (!rotated->certificateRequest.empty()) out["certificate_request"] = rotated->certificateRequest;
  return Response{200, std::move(out)};
}

HandlerResult KeyRotationApi::retire(Request& request) {
  auto label = stringField(request, "label");
  if (auto* err = std::get_if<HttpError>(&label)) return *err;
  auto reason = reasonFromQuery(request);
  if (!reason) return HttpError{reason.error().code, reason.error().message};
  auto retired = rotation_.retire(std::get<std::string>(label), actorOf(request), *reason, clock_());
  if (!retired) return answer(request, retired.error());
  return Response{200, json{{"label", retired->label}, {"retired", true}, {"already_retired", retired->already}}};
}

HandlerResult KeyRotationApi::correlate(Request& request) {
  auto text = stringField(request, "uri");
  if (auto* err = std::get_if<HttpError>(&text)) return *err;
  auto uri = SecretUri::parse(std::get<std::string>(text));
  if (!uri) return HttpError{uri.error().code, uri.error().message};
  auto refs = rotation_.correlate(uri->canonical());
  if (!refs) return answer(request, refs.error());
  json out = json::array();
  json named = json::array();
  for (const auto& r : *refs) {
    json entry = {{"version", r.version}, {"active", r.active}, {"retired", r.retired}};
    if (!r.resourceRef.empty()) {
      entry["resource_ref"] = r.resourceRef;
      named.push_back(r.resourceRef);
    }
    out.push_back(std::move(entry));
  }
  // Who learnt which refs belong together: the event names the refs, not the URI.
  json event = {{"type", "refs_correlated"}, {"resource_refs", named}};
  if (!appendAuditEvent(audit_, actorOf(request), event)) {
    return auditUnavailable("the audit log cannot record the correlation; nothing was answered");
  }
  return Response{200, json{{"resource_refs", out}}};
}

}  // namespace sealgate::appliance
