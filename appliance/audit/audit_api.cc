#include "appliance/audit/audit_api.h"

#include <map>

#include "appliance/telemetry/logging.h"
#include "core/signed_note.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

std::map<std::string, std::string> queryParams(const std::string& query) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    std::size_t amp = query.find('&', start);
    if (amp == std::string::npos) amp = query.size();
    const std::string pair = query.substr(start, amp - start);
    const std::size_t eq = pair.find('=');
    if (eq != std::string::npos) out[pair.substr(0, eq)] = pair.substr(eq + 1);
    start = amp + 1;
    if (amp == query.size()) break;
  }
  return out;
}

// A decimal up to 2^63 with no sign, no leading zeros.
std::optional<std::uint64_t> number(const std::map<std::string, std::string>& q, const std::string& key) {
  auto it = q.find(key);
  if (it == q.end() || it->second.empty() || it->second.size() > 18 ||
      (it->second.size() > 1 && it->second[0] == '0')) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  for (char c : it->second) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

json b64(const std::vector<merkle::Hash>& hs) {
  json a = json::array();
  for (const auto& h : hs) a.push_back(base64Std(h));
  return a;
}

HttpError unavailable(const Error& e) {
  logEvent(LogLevel::Error, "audit_failure", {{"error", e.describe()}});
  return HttpError{ErrorCode::AuditUnavailable, "the audit log cannot answer: " + e.message};
}

}  // namespace

HandlerResult AuditApi::publicKey(Request&) {
  const auto& s = log_.signer();
  char id[9];
  std::snprintf(id, sizeof id, "%08x", note::ecdsaKeyId(s.spkiDer));
  return Response{200, json{{"key_name", log_.options().origin},
                            {"key_id", id},
                            {"key_label", s.keyLabel},
                            {"signature_type", "0x02 ECDSA P-256 (C2SP signed note)"},
                            {"pem", note::spkiToPem(s.spkiDer)}}};
}

HandlerResult AuditApi::checkpoint(Request&) {
  auto cp = log_.checkpointNow();
  if (!cp) return unavailable(cp.error());
  return Response{200, json{{"tree_size", cp->size}, {"checkpoint", cp->note}}};
}

HandlerResult AuditApi::exportBundle(Request&) {
  auto bundle = log_.exportBundle();
  if (!bundle) return unavailable(bundle.error());
  Response r;
  r.rawBody = std::move(*bundle);
  r.headers["Content-Disposition"] = "attachment; filename=\"sealgate-audit-bundle.json\"";
  return r;
}

HandlerResult AuditApi::inclusionProof(Request& request) {
  const auto q = queryParams(request.query);
  auto index = number(q, "index");
  auto size = number(q, "tree_size");
  if (!index || !size) return HttpError{ErrorCode::InvalidRequest, "index and tree_size are non-negative integers"};
  auto proof = log_.inclusionProof(*index, *size);
  if (!proof) return HttpError{ErrorCode::InvalidRequest, proof.error().message};
  auto leaves = log_.leafHashes(*index + 1);
  return Response{200, json{{"index", *index},
                            {"tree_size", *size},
                            {"leaf_hash", base64Std(leaves.at(*index))},
                            {"proof", b64(*proof)}}};
}

HandlerResult AuditApi::consistencyProof(Request& request) {
  const auto q = queryParams(request.query);
  auto first = number(q, "first");
  auto second = number(q, "second");
  if (!first || !second) return HttpError{ErrorCode::InvalidRequest, "first and second are non-negative integers"};
  auto proof = log_.consistencyProof(*first, *second);
  if (!proof) return HttpError{ErrorCode::InvalidRequest, proof.error().message};
  return Response{200, json{{"first", *first}, {"second", *second}, {"proof", b64(*proof)}}};
}

}  // namespace sealgate::appliance
