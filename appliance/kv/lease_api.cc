#include "appliance/kv/lease_api.h"

#include <openssl/rand.h>

#include <algorithm>

#include "appliance/audit/audit_http.h"
#include "appliance/kv/kv_api.h"
#include "appliance/server/list_page.h"
#include "appliance/telemetry/logging.h"
#include "core/encoding.h"
#include "core/kv_request.h"
#include "core/secret_uri.h"
#include "core/wipe.h"
#include "providers/database_credentials.h"
#include "providers/kv_store.h"

namespace sealgate::appliance {

using nlohmann::json;
using providers::formatVaultTime;

namespace {

std::string newRequestId() {
  unsigned char raw[16];
  RAND_bytes(raw, sizeof raw);
  const std::string h = hexLower(raw);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

Response noContent() {
  Response r;
  r.status = 204;
  return r;
}

json leaseJson(const LeaseInfo& l, StateStore::Clock::time_point now) {
  return json{{"id", l.leaseId},
              {"issue_time", formatVaultTime(l.issueTime)},
              {"expire_time", formatVaultTime(l.expireTime)},
              {"last_renewal_time", formatVaultTime(l.lastRenewal)},
              {"renewable", true},
              {"ttl", l.ttl(now).count()}};
}

}  // namespace

bool LeaseApi::isCredsPath(const std::string& rest) {
  const auto slash = rest.find('/');
  return slash != std::string::npos && rest.compare(slash, 7, "/creds/") == 0;
}

std::optional<HttpError> LeaseApi::audit(const Request& request, json event) {
  return auditAdminChange(audit_, request, std::move(event));
}

// The boundary between the database provider (and the lease state under it) and
// the API: its refusals as they are; a state failure with the state's code; any
// other failure PROVIDER_UNAVAILABLE, the cause logged.
HttpError LeaseApi::leaseError(const Error& e) const {
  switch (e.code) {
    case providers::db_errc::kNoLease:
      return HttpError{e.code, "lease not found"};
    case providers::db_errc::kInvalid:
      return HttpError{e.code, e.message};
    case providers::db_errc::kNoRole:
      return HttpError{e.code, "no such database role"};
    default:
      break;
  }
  logEvent(LogLevel::Error, "lease_failure", {{"error", e.describe()}});
  if (stateFailureCode(e.code) == e.code) return HttpError{e.code, "the lease state cannot be made durable"};
  return HttpError{provider_errc::kUnavailable, "the database cannot serve the request"};
}

HandlerResult LeaseApi::creds(Request& request) {
  if (auto err = refuseResponseWrapping(request)) return *err;
  if (request.identity.role != "admin") return HttpError{ErrorCode::Forbidden, "permission denied"};
  if (request.method != "GET" && request.method != "POST" && request.method != "PUT") {
    return HttpError{ErrorCode::MethodNotAllowed, "unsupported operation"};
  }
  const std::string& rest = request.pathParam;
  const auto slash = rest.find('/');
  const std::string mount = rest.substr(0, slash);
  const std::string role = rest.substr(slash + 7);
  auto nsHeader = request.headers.find("x-vault-namespace");
  std::string ns = nsHeader != request.headers.end() ? nsHeader->second : defaultNamespace_;
  while (!ns.empty() && ns.back() == '/') ns.pop_back();
  if (db_ == nullptr || !isValidTenantName(ns) || !db_->hasMount(ns, mount)) {
    return HttpError{ErrorCode::NotFound, "no handler for route"};
  }
  auto uri = SecretUri::parse("secret://" + ns + "/" + mount + "/" + role);
  if (!uri || uri->path().size() != 1 || uri->joinedPath() != role) {
    return HttpError{ErrorCode::LeaseInvalid, "the role name is not valid"};
  }
  auto ref = refs_.of(*uri);
  if (!ref) return HttpError{ErrorCode::HsmUnavailable, "the HSM could not compute the resource_ref"};
  const auto decision =
      pdp_.current()->decide(DecisionSubject{request.identity.spiffeId, request.identity.tenant, request.identity.name},
                             DecisionRequest{0, uri->canonical(), "reveal", "{}"});
  if (!decision.allow) {
    if (auto err =
            audit(request,
                  {{"type", "db_creds"}, {"resource_ref", *ref}, {"decision", "deny"}, {"reason", decision.reason}})) {
      return *err;
    }
    return HttpError{ErrorCode::RevealDenied, "permission denied"};
  }
  // Audited before the credential exists: no audit, no credential.
  if (auto err = audit(request, {{"type", "db_creds"}, {"resource_ref", *ref}, {"decision", "allow"}})) return *err;
  auto cred = db_->create(ns, mount, role, LeaseBackend::Clock::now());
  if (!cred) return leaseError(cred.error());
  if (auto err =
          audit(request, {{"type", "lease_create"}, {"resource_ref", *ref}, {"lease_id", cred->lease.leaseId}})) {
    (void)db_->revoke(cred->lease.leaseId);  // unaudited credentials are not handed out
    return *err;
  }
  auto pw = cred->password.exposeSecretBytes();
  // The answer must carry it as text; this copy is wiped here, the answer by the
  // HTTP layer once sent.
  std::string password(pw.begin(), pw.end());
  WipeOnExit wipePassword(password);
  Response r{
      200,
      json{{"request_id", newRequestId()},
           {"lease_id", cred->lease.leaseId},
           {"renewable", true},
           {"lease_duration",
            std::chrono::duration_cast<std::chrono::seconds>(cred->lease.expireTime - cred->lease.issueTime).count()},
           {"data", {{"username", cred->lease.username}, {"password", std::move(password)}}},
           {"wrap_info", nullptr},
           {"warnings", nullptr},
           {"auth", nullptr}}};
  return r;
}

namespace {

Result<std::string> leaseIdOf(const json& body) {
  if (!body.is_object() || !body.contains("lease_id") || !body["lease_id"].is_string()) {
    return makeError(providers::db_errc::kInvalid, "lease_id is required");
  }
  const std::string id = body["lease_id"];
  if (!providers::isValidLeaseId(id)) return makeError(providers::db_errc::kInvalid, "lease_id is not valid");
  return id;
}

Result<void> onlyFields(const json& body, std::initializer_list<const char*> allowed) {
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& k = it.key();
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; })) {
      return makeError(ErrorCode::UnknownField, "unknown field in the request body");
    }
  }
  return Ok{};
}

}  // namespace

HandlerResult LeaseApi::lookup(Request& request) {
  if (auto err = refuseResponseWrapping(request)) return *err;
  if (request.identity.role != "admin" && request.identity.role != "auditor") {
    return HttpError{ErrorCode::Forbidden, "permission denied"};
  }
  if (auto f = onlyFields(request.body, {"lease_id"}); !f) return HttpError{f.error().code, f.error().message};
  auto id = leaseIdOf(request.body);
  if (!id) return leaseError(id.error());
  if (db_ == nullptr) return leaseError(makeError(providers::db_errc::kNoLease, "no such lease"));
  auto l = db_->lookup(*id);
  if (!l) return leaseError(l.error());
  json out = {{"request_id", newRequestId()},
              {"lease_id", ""},
              {"renewable", false},
              {"lease_duration", 0},
              {"data", leaseJson(*l, StateStore::Clock::now())},
              {"wrap_info", nullptr},
              {"warnings", nullptr},
              {"auth", nullptr}};
  return Response{200, out};
}

HandlerResult LeaseApi::renew(Request& request, bool vault) {
  if (auto err = refuseResponseWrapping(request)) return *err;
  if (request.identity.role != "admin") return HttpError{ErrorCode::Forbidden, "permission denied"};
  if (auto f = onlyFields(request.body, {"lease_id", "increment"}); !f) {
    return HttpError{f.error().code, f.error().message};
  }
  auto id = leaseIdOf(request.body);
  if (!id) return leaseError(id.error());
  std::chrono::seconds increment{0};
  if (request.body.contains("increment")) {
    auto inc = kv::parseGoDuration(request.body["increment"]);
    if (!inc) return HttpError{providers::db_errc::kInvalid, "increment must be a duration (\"1h\" or seconds)"};
    increment = *inc;
  }
  if (db_ == nullptr) return leaseError(makeError(providers::db_errc::kNoLease, "no such lease"));
  if (!db_->lookup(*id)) return leaseError(makeError(providers::db_errc::kNoLease, "no such lease"));
  if (auto err = audit(request, {{"type", "lease_renew"}, {"lease_id", *id}, {"increment", increment.count()}})) {
    return *err;
  }
  auto l = db_->renew(*id, increment, LeaseBackend::Clock::now());
  if (!l) return leaseError(l.error());
  const auto now = StateStore::Clock::now();
  if (!vault) return Response{200, json{{"lease", leaseJson(*l, now)}}};
  return Response{200, json{{"request_id", newRequestId()},
                            {"lease_id", l->leaseId},
                            {"renewable", true},
                            {"lease_duration", l->ttl(now).count()},
                            {"data", nullptr},
                            {"wrap_info", nullptr},
                            {"warnings", nullptr},
                            {"auth", nullptr}}};
}

HandlerResult LeaseApi::revoke(Request& request, bool vault) {
  if (auto err = refuseResponseWrapping(request)) return *err;
  if (request.identity.role != "admin") return HttpError{ErrorCode::Forbidden, "permission denied"};
  if (auto f = onlyFields(request.body, {"lease_id", "sync"}); !f) return HttpError{f.error().code, f.error().message};
  auto id = leaseIdOf(request.body);
  if (!id) return leaseError(id.error());
  if (db_ == nullptr || !db_->lookup(*id)) {
    // Vault answers a revoke of an unknown (e.g. already revoked) lease with 204.
    if (vault) return noContent();
    return leaseError(makeError(providers::db_errc::kNoLease, "no such lease"));
  }
  if (auto err = audit(request, {{"type", "lease_revoke"}, {"lease_id", *id}})) return *err;
  auto r = db_->revoke(*id);
  if (!r) {
    if (vault && r.error().code == providers::db_errc::kNoLease) return noContent();
    return leaseError(r.error());
  }
  if (vault) return noContent();
  return Response{200, json{{"lease_id", *id}, {"revoked", true}}};
}

HandlerResult LeaseApi::revokePrefix(Request& request, bool vault) {
  if (auto err = refuseResponseWrapping(request)) return *err;
  if (request.identity.role != "admin") return HttpError{ErrorCode::Forbidden, "permission denied"};
  const std::string& prefix = request.pathParam;
  if (!providers::isValidLeasePrefix(prefix)) {
    return HttpError{providers::db_errc::kInvalid, "the prefix is not valid"};
  }
  if (auto err = audit(request, {{"type", "lease_revoke_prefix"}, {"prefix", prefix}})) return *err;
  std::size_t n = 0;
  if (db_ != nullptr) {
    auto r = db_->revokePrefix(prefix);
    if (!r) return leaseError(r.error());
    n = *r;
  }
  if (vault) return noContent();
  return Response{200, json{{"prefix", prefix}, {"revoked", n}}};
}

HandlerResult LeaseApi::list(Request& request) {
  if (request.identity.role != "admin" && request.identity.role != "auditor") {
    return HttpError{ErrorCode::Forbidden, "permission denied"};
  }
  auto query = listPageQuery(request);
  if (!query) return HttpError{query.error().code, query.error().message};
  const auto all = db_ != nullptr ? db_->leases() : decltype(db_->leases()){};
  const auto page = pageOf(
      all, [](const auto& l) -> const std::string& { return l.leaseId; }, *query);
  json list = json::array();
  const auto now = StateStore::Clock::now();
  for (const auto* l : page.items) {
    json j = leaseJson(*l, now);
    j["tenant"] = l->tenant;
    j["mount"] = l->mount;
    j["role"] = l->role;
    j["username"] = l->username;
    list.push_back(std::move(j));
  }
  json out{{"leases", std::move(list)}, {"total", page.total}};
  if (page.nextAfter) out["next_after"] = *page.nextAfter;
  return Response{200, std::move(out)};
}

}  // namespace sealgate::appliance
