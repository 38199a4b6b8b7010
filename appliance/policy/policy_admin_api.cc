#include "appliance/policy/policy_admin_api.h"

#include <openssl/sha.h>

#include <chrono>

#include "appliance/audit/audit_http.h"
#include "appliance/policy/policy_text.h"
#include "appliance/server/identity.h"
#include "appliance/telemetry/logging.h"
#include "core/encoding.h"
#include "core/file_io.h"
#include "core/json_parse.h"
#include "core/secret_uri.h"
#include "core/time_format.h"

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

constexpr std::uint64_t kDefaultHistoryLimit = 20;
constexpr std::uint64_t kMaxHistoryLimit = 100;

// A version number or a limit, strictly: 1-19 decimal digits, no sign, no
// leading zero (so one number has one spelling), not 0.
std::optional<std::uint64_t> strictNumber(std::string_view s) {
  if (s.empty() || s.size() > 19 || s[0] == '0') return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

// The optional query parameter `name` as a strict number; absent: `fallback`.
Result<std::optional<std::uint64_t>> numberParam(const Request& request, std::string_view name,
                                                 std::optional<std::uint64_t> fallback) {
  SEALGATE_ASSIGN_OR_RETURN(auto text, queryValue(request.query, name));
  if (!text) return fallback;
  auto v = strictNumber(*text);
  if (!v) return makeError(ErrorCode::InvalidRequest, "'" + std::string(name) + "' must be a positive decimal number");
  return std::optional<std::uint64_t>(*v);
}

json versionJson(const PolicyVersion& v) {
  return json{{"version", v.version}, {"sha256", v.sha256}, {"at", v.at},
              {"by", v.by},           {"reason", v.reason}, {"rules", v.rules}};
}

std::string nowRfc3339() { return rfc3339Seconds(std::chrono::system_clock::now()); }

}  // namespace

PolicyAdminApi::PolicyAdminApi(std::string policyFile, EmbeddedPolicyDecisionPoint& pdp, AuditSink& audit,
                               std::function<void()> onPolicyChange)
    : policyFile_(std::move(policyFile)),
      pdp_(pdp),
      audit_(audit),
      onPolicyChange_(std::move(onPolicyChange)),
      history_(historyDirFor(policyFile_)) {
  std::lock_guard lock(putMu_);
  // Not fatal here: the next PUT tries again and is refused while it fails.
  if (auto recorded = recordCurrent(); !recorded) {
    logEvent(LogLevel::Error, "policy_history_failed", {{"error", recorded.error().describe()}});
  }
}

std::string PolicyAdminApi::historyDirFor(const std::string& policyFile) {
  return policyFile.empty() ? std::string() : policyFile + ".history";
}

Result<void> PolicyAdminApi::recordCurrent() {
  auto policy = pdp_.current();
  json doc = parseJsonOrDiscarded(policy->source(), {.allowComments = true});
  if (!doc.is_object()) doc = json{{"version", 1}, {"rules", json::array()}};
  const std::string sha = sha256Hex(doc.dump(2));
  if (auto newest = history_.newest(); !newest || newest->sha256 != sha) {
    SEALGATE_TRY(history_.append(
        PolicyVersion{history_.nextVersion(), sha, nowRfc3339(), "startup", "", policy->rules().size(), doc}));
  }
  currentRecorded_ = true;
  return Ok{};
}

Result<void> PolicyAdminApi::reloadFromFile() {
  if (policyFile_.empty()) return makeError(ErrorCode::PolicyInvalid, "no policy_file is configured");
  SEALGATE_ASSIGN_OR_RETURN(auto policy, Policy::load(policyFile_));
  json doc = parseJsonOrDiscarded(policy.source(), {.allowComments = true});
  if (!doc.is_object()) return makeError(ErrorCode::PolicyInvalid, "the policy file is not a JSON object");
  const std::string sha = sha256Hex(doc.dump(2));
  std::lock_guard lock(putMu_);
  // The daemon itself, on the operator's signal (as the break-glass expiry does).
  json event = auditEvent("policy_reload", Actor{"", "sealgated", "", "", ""});
  event["signal"] = "SIGHUP";
  event["rules"] = policy.rules().size();
  event["sha256"] = sha;
  event["outcome"] = "reloaded";
  if (auto logged = audit_.append(event.dump()); !logged) {
    return makeError(ErrorCode::AuditUnavailable, "the audit log cannot record the reload; the policy is unchanged");
  }
  if (auto newest = history_.newest(); !newest || newest->sha256 != sha) {
    SEALGATE_TRY(history_.append(
        PolicyVersion{history_.nextVersion(), sha, nowRfc3339(), "SIGHUP", "", policy.rules().size(), std::move(doc)}));
  }
  currentRecorded_ = true;
  const std::size_t rules = policy.rules().size();
  pdp_.replace(std::make_shared<const Policy>(std::move(policy)));
  onPolicyChange_();
  logEvent(LogLevel::Info, "policy_reloaded", {{"sha256", sha}, {"rules", rules}});
  return Ok{};
}

HandlerResult PolicyAdminApi::getPolicy(Request& request) {
  if (!adminOrAuditor(request)) return HttpError{ErrorCode::Forbidden, "permission denied"};
  auto policy = pdp_.current();
  auto parsed = parseJson(policy->source(), {.allowComments = true});
  json doc = parsed ? std::move(*parsed) : json{{"version", 1}, {"rules", json::array()}};
  return Response{200, doc};
}

// The order: audit first (an attempt the log cannot record changes nothing),
// then the history entry, then the policy file, then the swap. A history entry
// that cannot be written fails the PUT before the file or the policy change; a
// policy file that cannot be written takes its history entry back.
HandlerResult PolicyAdminApi::putPolicy(Request& request) {
  if (request.identity.role != "admin") return HttpError{ErrorCode::Forbidden, "permission denied"};
  auto reason = reasonFromQuery(request);
  if (!reason) return HttpError{reason.error().code, reason.error().message};
  const std::string reasonText = std::move(*reason);
  const std::string text = request.body.dump(2);
  auto parsed = Policy::parse(text);
  if (!parsed) return HttpError{parsed.error().code, parsed.error().message};
  std::lock_guard lock(putMu_);
  if (!currentRecorded_) {
    if (auto recorded = recordCurrent(); !recorded) {
      logEvent(LogLevel::Error, "policy_history_failed", {{"error", recorded.error().describe()}});
      return HttpError{ErrorCode::PolicyPersistFailed, "the policy history cannot be written; the policy is unchanged"};
    }
  }
  const std::string sha = sha256Hex(text);
  json event = auditEvent("policy_update", actorOf(request));
  event["rules"] = parsed->rules().size();
  event["sha256"] = sha;
  if (!reasonText.empty()) event["reason"] = reasonText;
  event["outcome"] = "updated";
  if (auto logged = audit_.append(event.dump()); !logged) {
    return auditUnavailable("the audit log cannot record the change; the policy is unchanged");
  }
  const PolicyVersion version{history_.nextVersion(), sha,         nowRfc3339(), request.identity.spiffeId, reasonText,
                              parsed->rules().size(), request.body};
  if (auto kept = history_.append(version); !kept) {
    logEvent(LogLevel::Error, "policy_history_failed", {{"error", kept.error().describe()}});
    return HttpError{ErrorCode::PolicyPersistFailed,
                     "the policy history entry could not be saved; the policy is unchanged"};
  }
  if (!policyFile_.empty()) {
    if (auto saved = writeAtomically(policyFile_, text + "\n"); !saved) {
      history_.dropNewest(version.version);
      logEvent(LogLevel::Error, "policy_persist_failed", {{"error", saved.error().describe()}});
      return HttpError{saved.error().code, "the policy could not be saved; it is unchanged"};
    }
  }
  pdp_.replace(std::make_shared<const Policy>(std::move(*parsed)));
  onPolicyChange_();
  logEvent(LogLevel::Info, "policy_updated",
           {{"by", request.identity.spiffeId}, {"sha256", sha}, {"version", version.version}});
  return Response{200, json{{"status", "updated"},
                            {"rules", pdp_.current()->rules().size()},
                            {"sha256", sha},
                            {"version", version.version}}};
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

HandlerResult PolicyAdminApi::listHistory(Request& request) {
  if (!adminOrAuditor(request)) return HttpError{ErrorCode::Forbidden, "permission denied"};
  auto limit = numberParam(request, "limit", kDefaultHistoryLimit);
  if (!limit) return HttpError{limit.error().code, limit.error().message};
  if (**limit > kMaxHistoryLimit) return HttpError{ErrorCode::InvalidRequest, "'limit' must be 1-100"};
  auto before = numberParam(request, "before", std::nullopt);
  if (!before) return HttpError{before.error().code, before.error().message};
  bool more = false;
  const auto versions = history_.list(*before, static_cast<std::size_t>(**limit), &more);
  json list = json::array();
  for (const auto& v : versions) list.push_back(versionJson(v));
  json out = {{"versions", std::move(list)}};
  if (more) out["next_before"] = versions.back().version;
  return Response{200, out};
}

HandlerResult PolicyAdminApi::getHistoryVersion(Request& request) {
  if (!adminOrAuditor(request)) return HttpError{ErrorCode::Forbidden, "permission denied"};
  // Version numbers are decimal, one spelling each: anything else names no version.
  auto number = strictNumber(request.pathParam);
  auto version = number ? history_.find(*number) : std::nullopt;
  if (!version) return HttpError{ErrorCode::NotFound, "no such policy version"};
  json out = versionJson(*version);
  out["policy"] = version->policy;
  return Response{200, out};
}

HandlerResult PolicyAdminApi::validatePolicy(Request& request) {
  if (!adminOrAuditor(request)) return HttpError{ErrorCode::Forbidden, "permission denied"};
  if (auto err = checkFields(request.body, {"text"}, {"text"})) return *err;
  if (!request.body["text"].is_string()) return HttpError{ErrorCode::InvalidRequest, "'text' must be a string"};
  // No state, no audit event: nothing changes.
  const auto check = checkPolicyText(request.body["text"].get_ref<const std::string&>());
  if (check.fault) {
    const auto& f = *check.fault;
    return Response{200, json{{"valid", false},
                              {"errors", json::array({json{{"line", f.at.line},
                                                           {"column", f.at.column},
                                                           {"code", errorCodeName(f.code)},
                                                           {"message", f.message}}})}}};
  }
  return Response{200, json{{"valid", true}, {"rules", check.rules}, {"sha256", sha256Hex(check.document.dump(2))}}};
}

}  // namespace sealgate::appliance
