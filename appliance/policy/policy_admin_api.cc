#include "appliance/policy/policy_admin_api.h"

#include <openssl/sha.h>

#include "appliance/audit/audit_http.h"
#include "appliance/server/identity.h"
#include "appliance/telemetry/logging.h"
#include "core/encoding.h"
#include "core/file_io.h"
#include "core/json_parse.h"
#include "core/secret_uri.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

std::string sha256Hex(const std::string& text) {
  std::uint8_t d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d);
  return hexLower(d);
}

// tmp file, fsync, rename, fsync the directory: a crash leaves the old or the new file.
Result<void> writeAtomically(const std::string& path, const std::string& content) {
  return writeFileAtomically(path, content, 0600, ErrorCode::PolicyPersistFailed);
}

bool adminOrAuditor(const Request& r) { return r.identity.role == "admin" || r.identity.role == "auditor"; }

}  // namespace

HandlerResult PolicyAdminApi::getPolicy(Request& request) {
  if (!adminOrAuditor(request)) return HttpError{ErrorCode::Forbidden, "permission denied"};
  auto policy = pdp_.current();
  auto parsed = parseJson(policy->source(), {.allowComments = true});
  json doc = parsed ? std::move(*parsed) : json{{"version", 1}, {"rules", json::array()}};
  return Response{200, doc};
}

HandlerResult PolicyAdminApi::putPolicy(Request& request) {
  if (request.identity.role != "admin") return HttpError{ErrorCode::Forbidden, "permission denied"};
  const std::string text = request.body.dump(2);
  auto parsed = Policy::parse(text);
  if (!parsed) return HttpError{parsed.error().code, parsed.error().message};
  std::lock_guard lock(putMu_);
  json event = auditEvent("policy_update", actorOf(request));
  event["rules"] = parsed->rules().size();
  event["sha256"] = sha256Hex(text);
  event["outcome"] = "updated";
  if (auto logged = audit_.append(event.dump()); !logged) {
    return auditUnavailable("the audit log cannot record the change; the policy is unchanged");
  }
  if (!policyFile_.empty()) {
    if (auto saved = writeAtomically(policyFile_, text + "\n"); !saved) {
      logEvent(LogLevel::Error, "policy_persist_failed", {{"error", saved.error().describe()}});
      return HttpError{saved.error().code, "the policy could not be saved; it is unchanged"};
    }
  }
  pdp_.replace(std::make_shared<const Policy>(std::move(*parsed)));
  onPolicyChange_();
  logEvent(LogLevel::Info, "policy_updated", {{"by", request.identity.spiffeId}, {"sha256", sha256Hex(text)}});
  return Response{200,
                  json{{"status", "updated"}, {"rules", pdp_.current()->rules().size()}, {"sha256", sha256Hex(text)}}};
}

HandlerResult PolicyAdminApi::testPolicy(Request& request) {
  if (!adminOrAuditor(request)) return HttpError{ErrorCode::Forbidden, "permission denied"};
  if (auto err = checkFields(request.body, {"subject", "uri", "action", "context"}, {"subject", "uri", "action"})) {
    return *err;
  }
  const json& b = request.body;
  if (!b["subject"].is_string() || !b["uri"].is_string() || !b["action"].is_string() ||
      (b.contains("context") && !b["context"].is_object())) {
    return HttpError{ErrorCode::InvalidRequest, "'subject', 'uri' and 'action' must be strings, 'context' an object"};
  }
  auto subject = parseSpiffeId(b["subject"]);
  if (!subject || subject->kind != IdentityKind::Service) {
    return HttpError{ErrorCode::InvalidRequest, "'subject' must be a service SPIFFE ID"};
  }
  auto uri = SecretUri::parse(b["uri"].get<std::string>());
  if (!uri) return HttpError{uri.error().code, uri.error().message};
  if (auto guard = uri->checkTenant(subject->tenant); !guard) {
    return Response{200, json{{"decision", "deny"}, {"reason", guard.error().code}}};
  }
  // A dry run: no grant, no state, no audit event.
  auto d = pdp_.current()->decide(
      DecisionSubject{subject->spiffeId, subject->tenant, subject->service},
      DecisionRequest{0, uri->canonical(), b["action"], b.value("context", json::object()).dump()});
  json out = {{"decision", d.allow ? "allow" : "deny"}, {"reason", d.reason}};
  if (d.allow) out["obligations"] = parseInternalJson(d.obligationsJson);
  return Response{200, out};
}

}  // namespace sealgate::appliance
