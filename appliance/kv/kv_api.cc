#include "appliance/kv/kv_api.h"

#include <openssl/rand.h>

#include <utility>
#include <vector>

#include "appliance/audit/audit_http.h"
#include "appliance/telemetry/logging.h"
#include "core/encoding.h"
#include "core/kv_request.h"
#include "core/secret_uri.h"
#include "core/wipe.h"

namespace sealgate::appliance {

using nlohmann::json;
namespace kv_errc = providers::kv_errc;

namespace {

std::string newRequestId() {
  unsigned char raw[16];
  RAND_bytes(raw, sizeof raw);
  raw[6] = static_cast<unsigned char>((raw[6] & 0x0f) | 0x40);
  raw[8] = static_cast<unsigned char>((raw[8] & 0x3f) | 0x80);
  const std::string h = hexLower(raw);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

// Vault's response envelope.
json envelope(json data) {
  return json{{"request_id", newRequestId()}, {"lease_id", ""},          {"renewable", false},
              {"lease_duration", 0},          {"data", std::move(data)}, {"wrap_info", nullptr},
              {"warnings", nullptr},          {"auth", nullptr},         {"mount_type", "kv"}};
}

// Vault's bare 404 ({"errors":[]}), with the code in X-Sealgate-Error like every
// other error on these paths.
Response vaultNotFound() {
  Response r{404, json{{"errors", json::array()}}};
  r.headers["X-Sealgate-Error"] = errorCodeName(provider_errc::kNotFound);
  return r;
}

json versionMetadata(const providers::KvVersionInfo& v, const json& custom) {
  return json{{"created_time", providers::formatVaultTime(v.created)},
              {"custom_metadata", custom},
              {"deletion_time", v.deletionTime ? providers::formatVaultTime(*v.deletionTime) : ""},
              {"destroyed", v.destroyed},
              {"version", v.version}};
}

Response noContent() {
  Response r;
  r.status = 204;
  r.rawBody = "";
  r.body = nullptr;
  return r;
}

// RFC 7386 merge of `patch` into `target`, as json::merge_patch, except that
// every value it replaces or removes is wiped before it is freed (a patch that
// changes a password must not leave the old one in freed memory). Iterative.
void mergePatchWiping(json& target, const json& patch) {
  std::vector<std::pair<json*, const json*>> todo{{&target, &patch}};
  while (!todo.empty()) {
    auto [t, p] = todo.back();
    todo.pop_back();
    if (!p->is_object()) {
      wipeJson(*t);
      *t = *p;
      continue;
    }
    if (!t->is_object()) {
      wipeJson(*t);
      *t = json::object();
    }
    for (auto it = p->begin(); it != p->end(); ++it) {
      if (it->is_null()) {
        if (auto found = t->find(it.key()); found != t->end()) {
          wipeJson(*found);
          t->erase(found);
        }
      } else {
        todo.emplace_back(&(*t)[it.key()], &*it);
      }
    }
  }
}

bool isAdmin(const Request& r) { return r.identity.role == "admin"; }

HttpError forbidden() { return HttpError{ErrorCode::Forbidden, "permission denied"}; }

}  // namespace

// The boundary between the KV store and the API: its refusals are answered as
// they are (the status is the code's); its failures (an integrity check, I/O) as
// PROVIDER_UNAVAILABLE, the cause logged.
HttpError kvError(const Error& e) {
  switch (e.code) {
    case ErrorCode::NotFound:
      return HttpError{e.code, "no such key or version"};
    case ErrorCode::KvNoMount:
      return HttpError{e.code, "no handler for route"};
    case ErrorCode::KvCasRequired:
    case ErrorCode::KvCasMismatch:
    case ErrorCode::KvInvalid:
    case ErrorCode::UnknownField:
      return HttpError{e.code, e.message};
    case ErrorCode::KvTampered:
      logEvent(LogLevel::Error, "kv_failure", {{"error", e.describe()}});
      return HttpError{provider_errc::kUnavailable, "the KV store failed an integrity check"};
    default:
      logEvent(LogLevel::Error, "kv_failure", {{"error", e.describe()}});
      return HttpError{provider_errc::kUnavailable, "the KV store cannot serve the request"};
  }
}

std::optional<HttpError> refuseResponseWrapping(const Request& request) {
  // Any value, even "0" or an empty one: a client that sends the header expects
  // a wrapping token, never the plaintext.
  if (request.headers.count("x-vault-wrap-ttl") == 0) return std::nullopt;
  return HttpError{ErrorCode::WrappingUnsupported,
                   "response wrapping (X-Vault-Wrap-TTL) is not supported: sealgate never returns a value a client "
                   "asked to have wrapped; repeat the request without the header"};
}

std::optional<HttpError> KvApi::audit(const Request& request, json event) {
  return auditAdminChange(audit_, request, std::move(event));
}

HandlerResult KvApi::handle(Request& request) {
  // A write's body carries the values: wiped however this returns.
  WipeOnExit wipeBody(request.body);
  if (auto err = refuseResponseWrapping(request)) return *err;
  if (request.identity.role != "admin" && request.identity.role != "auditor") return forbidden();
  if (store_ == nullptr) return HttpError{provider_errc::kUnavailable, "the KV store is not available"};
  auto parsed = kv::parseTarget(request.pathParam);
  if (!parsed) {
    if (parsed.error().code == ErrorCode::NotFound) return HttpError{ErrorCode::NotFound, "no handler for route"};
    return kvError(parsed.error());
  }
  Target t;
  t.mount = parsed->mount;
  t.op = parsed->op;
  t.path = parsed->path;
  auto nsHeader = request.headers.find("x-vault-namespace");
  t.ns = nsHeader != request.headers.end() ? nsHeader->second : defaultNamespace_;
  while (!t.ns.empty() && t.ns.back() == '/') t.ns.pop_back();
  if (t.ns.empty() || !isValidTenantName(t.ns) || !store_->hasMount(t.ns, t.mount)) {
    return HttpError{kv_errc::kNoMount, "no handler for route"};
  }
  // The audited identifier: the resource_ref of the secret's URI (never the URI).
  const std::string base = "secret://" + t.ns + "/" + t.mount;
  const bool namesAKey = !t.path.empty() && t.path.back() != '/';
  auto uri = SecretUri::parse(namesAKey ? base + "/" + t.path : base + "/_mount");
  if (!uri) return kvError(makeError(kv::kInvalid, "the path is not valid"));
  auto ref = refs_.of(*uri);
  if (!ref) return HttpError{ErrorCode::HsmUnavailable, "the HSM could not compute the resource_ref"};
  t.resourceRef = *ref;

  HandlerResult out = HttpError{ErrorCode::MethodNotAllowed, "unsupported operation"};
  if (t.op == "data") {
    out = data(request, t);
  } else if (t.op == "metadata") {
    out = metadata(request, t);
  } else if (t.op == "config") {
    out = config(request, t);
  } else {
    out = versions(request, t);
  }
  return out;
}

HandlerResult KvApi::data(Request& request, const Target& t) {
  const std::string& m = request.method;
  if (m == "GET") return readData(request, t);
  if (!isAdmin(request)) return forbidden();
  if (m == "POST" || m == "PUT") return writeData(request, t);
  if (m == "PATCH") return patchData(request, t);
  if (m == "DELETE") {
    if (auto err = audit(request, {{"type", "kv_delete"}, {"resource_ref", t.resourceRef}, {"versions", "latest"}})) {
      return *err;
    }
    auto r = store_->softDelete({t.ns, t.mount, t.path}, {});
    if (!r) return kvError(r.error());
    return noContent();
  }
  return HttpError{ErrorCode::MethodNotAllowed, "unsupported operation"};
}

HandlerResult KvApi::readData(Request& request, const Target& t) {
  if (!isAdmin(request)) return forbidden();
  auto version = kv::parseVersionQuery(request.query);
  if (!version) return kvError(version.error());
  // Reading a value needs the policy's reveal permission on this secret.
  auto uri = SecretUri::parse("secret://" + t.ns + "/" + t.mount + "/" + t.path);
  if (!uri) return kvError(makeError(kv::kInvalid, "the path is not valid"));
  const auto decision =
      pdp_.current()->decide(DecisionSubject{request.identity.spiffeId, request.identity.tenant, request.identity.name},
                             DecisionRequest{0, uri->canonical(), "reveal", "{}"});
  if (!decision.allow) {
    if (auto err = audit(request, {{"type", "kv_reveal"},
                                   {"resource_ref", t.resourceRef},
                                   {"decision", "deny"},
                                   {"reason", decision.reason}})) {
      return *err;
    }
    return HttpError{ErrorCode::RevealDenied, "permission denied"};
  }
  auto r = store_->read({t.ns, t.mount, t.path}, *version);
  if (!r) {
    if (r.error().code == provider_errc::kNotFound) {
      Response nf{404, json{{"errors", json::array()}}};
      nf.headers["X-Sealgate-Error"] = errorCodeName(provider_errc::kNotFound);
      return nf;
    }
    return kvError(r.error());
  }
  const json meta = versionMetadata(r->version, r->customMetadata);
  if (!r->data) {
    // Vault: a deleted or destroyed version is a 404 whose body still carries the metadata.
    Response gone{404, envelope(json{{"data", nullptr}, {"metadata", meta}})};
    gone.headers["X-Sealgate-Error"] =
        errorCodeName(r->version.destroyed ? provider_errc::kVersionDestroyed : provider_errc::kVersionDeleted);
    return gone;
  }
  // Audited before the value leaves: no audit, no reveal.
  if (auto err = audit(request, {{"type", "kv_reveal"},
                                 {"resource_ref", t.resourceRef},
                                 {"decision", "allow"},
                                 {"kv_version", r->version.version}})) {
    return *err;
  }
  json value = parseJsonWiping(r->data->exposeSecretBytes());
  WipeOnExit wipeValue(value);  // moved into the answer below (the HTTP layer wipes that after sending)
  if (!value.is_object()) return kvError(makeError(kv_errc::kTampered, "a stored value is not an object"));
  Response resp{200, envelope(json{{"data", std::move(value)}, {"metadata", meta}})};
  return resp;
}

HandlerResult KvApi::writeData(Request& request, const Target& t) {
  auto w = kv::parseDataWrite(request.body);
  if (!w) return kvError(w.error());
  WipeOnExit wipeData(w->data);
  auto secret = dumpJsonToSecret(w->data);  // no std::string copy of the value
  if (!secret) return kvError(secret.error());
  if (auto err = audit(request, {{"type", "kv_write"}, {"resource_ref", t.resourceRef}})) return *err;
  auto v = store_->put({t.ns, t.mount, t.path}, *secret, w->cas);
  if (!v) return kvError(v.error());
  auto meta = store_->metadata({t.ns, t.mount, t.path});
  return Response{200, envelope(versionMetadata(*v, meta ? meta->customMetadata : json()))};
}

HandlerResult KvApi::patchData(Request& request, const Target& t) {
  auto ct = request.headers.find("content-type");
  if (ct == request.headers.end() || ct->second.rfind("application/merge-patch+json", 0) != 0) {
    return HttpError{ErrorCode::UnsupportedMediaType, "PATCH requires the application/merge-patch+json content type"};
  }
  auto w = kv::parseDataWrite(request.body);
  if (!w) return kvError(w.error());
  WipeOnExit wipeData(w->data);
  const providers::KvPath p{t.ns, t.mount, t.path};
  auto meta = store_->metadata(p);
  if (!meta) return kvError(meta.error());
  auto current = store_->read(p, 0);
  if (!current) return kvError(current.error());
  if (!current->data) return HttpError{provider_errc::kVersionDeleted, "the current version is deleted or destroyed"};
  json merged = parseJsonWiping(current->data->exposeSecretBytes());
  WipeOnExit wipeMerged(merged);
  if (!merged.is_object()) return kvError(makeError(kv_errc::kTampered, "a stored value is not an object"));
  mergePatchWiping(merged, w->data);
  auto secret = dumpJsonToSecret(merged);
  if (!secret) return kvError(secret.error());
  if (auto err = audit(request, {{"type", "kv_patch"}, {"resource_ref", t.resourceRef}})) return *err;
  // Patch is check-and-set against the version it merged into, unless told otherwise.
  auto v = store_->put(p, *secret, w->cas.value_or(current->version.version));
  if (!v) return kvError(v.error());
  return Response{200, envelope(versionMetadata(*v, meta->customMetadata))};
}

HandlerResult KvApi::versions(Request& request, const Target& t) {
  if (!isAdmin(request)) return forbidden();
  const bool destroy = t.op == "destroy";
  if (request.method != "POST" && !(request.method == "PUT")) {
    return HttpError{ErrorCode::MethodNotAllowed, "unsupported operation"};
  }
  auto vs = kv::parseVersions(request.body, true);
  if (!vs) return kvError(vs.error());
  if (auto err = audit(request, {{"type", "kv_" + t.op}, {"resource_ref", t.resourceRef}, {"versions", *vs}})) {
    return *err;
  }
  const providers::KvPath p{t.ns, t.mount, t.path};
  Result<void> r = t.op == "delete" ? store_->softDelete(p, *vs)
                   : destroy        ? store_->destroy(p, *vs)
                                    : store_->undelete(p, *vs);
  if (!r) return kvError(r.error());
  return noContent();
}

HandlerResult KvApi::metadata(Request& request, const Target& t) {
  const std::string& m = request.method;
  const bool isList = m == "LIST" || (m == "GET" && kv::listQuery(request.query));
  if (isList) return list(request, t);
  if (t.path.empty() || t.path.back() == '/') return HttpError{ErrorCode::NotFound, "no handler for route"};
  const providers::KvPath p{t.ns, t.mount, t.path};
  if (m == "GET") {
    auto meta = store_->metadata(p);
    if (!meta) {
      if (meta.error().code == provider_errc::kNotFound) return vaultNotFound();
      return kvError(meta.error());
    }
    auto mc = store_->mountConfig(t.ns, t.mount);
    json versions = json::object();
    for (const auto& [n, v] : meta->versions) {
      versions[std::to_string(n)] = {
          {"created_time", providers::formatVaultTime(v.created)},
          {"deletion_time", v.deletionTime ? providers::formatVaultTime(*v.deletionTime) : ""},
          {"destroyed", v.destroyed}};
    }
    return Response{200, envelope(json{{"cas_required", meta->casRequired},
                                       {"created_time", providers::formatVaultTime(meta->created)},
                                       {"current_version", meta->currentVersion},
                                       {"custom_metadata", meta->customMetadata},
                                       {"delete_version_after", kv::formatGoDuration(meta->deleteVersionAfter)},
                                       {"max_versions", meta->maxVersions},
                                       {"oldest_version", meta->oldestVersion},
                                       {"updated_time", providers::formatVaultTime(meta->updated)},
                                       {"versions", versions}})};
  }
  if (!isAdmin(request)) return forbidden();
  if (m == "POST" || m == "PUT" || m == "PATCH") {
    const bool patch = m == "PATCH";
    auto w = kv::parseMetadataWrite(request.body, patch);
    if (!w) return kvError(w.error());
    if (auto err = audit(
            request, {{"type", patch ? "kv_metadata_patch" : "kv_metadata_write"}, {"resource_ref", t.resourceRef}})) {
      return *err;
    }
    auto r = store_->writeMetadata(
        p, providers::KvMetadataUpdate{w->maxVersions, w->casRequired, w->deleteVersionAfter, w->customMetadata},
        patch);
    if (!r) return kvError(r.error());
    return noContent();
  }
  if (m == "DELETE") {
    if (auto err = audit(request, {{"type", "kv_metadata_delete"}, {"resource_ref", t.resourceRef}})) return *err;
    auto r = store_->deleteMetadata(p);
    if (!r) return kvError(r.error());
    return noContent();
  }
  return HttpError{ErrorCode::MethodNotAllowed, "unsupported operation"};
}

HandlerResult KvApi::list(Request&, const Target& t) {
  const std::string prefix = t.path.empty() || t.path.back() == '/' ? t.path : t.path + "/";
  auto keys = store_->list(t.ns, t.mount, prefix);
  if (!keys) {
    if (keys.error().code == provider_errc::kNotFound) return vaultNotFound();
    return kvError(keys.error());
  }
  return Response{200, envelope(json{{"keys", *keys}})};
}

HandlerResult KvApi::config(Request& request, const Target& t) {
  const std::string& m = request.method;
  if (m == "GET") {
    auto c = store_->mountConfig(t.ns, t.mount);
    if (!c) return kvError(c.error());
    return Response{200, envelope(json{{"cas_required", c->casRequired},
                                       {"delete_version_after", kv::formatGoDuration(c->deleteVersionAfter)},
                                       {"max_versions", c->maxVersions}})};
  }
  if (!isAdmin(request)) return forbidden();
  if (m != "POST" && m != "PUT") return HttpError{ErrorCode::MethodNotAllowed, "unsupported operation"};
  auto w = kv::parseConfigWrite(request.body);
  if (!w) return kvError(w.error());
  auto c = store_->mountConfig(t.ns, t.mount);
  if (!c) return kvError(c.error());
  providers::KvMountConfig next = *c;
  if (w->maxVersions) next.maxVersions = *w->maxVersions;
  if (w->casRequired) next.casRequired = *w->casRequired;
  if (w->deleteVersionAfter) next.deleteVersionAfter = *w->deleteVersionAfter;
  if (auto err = audit(request, {{"type", "kv_config_write"}, {"resource_ref", t.resourceRef}})) return *err;
  auto r = store_->setMountConfig(t.ns, t.mount, next);
  if (!r) return kvError(r.error());
  return noContent();
}

}  // namespace sealgate::appliance
