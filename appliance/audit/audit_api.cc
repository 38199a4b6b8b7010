#include "appliance/audit/audit_api.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "appliance/telemetry/logging.h"
#include "core/signed_note.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

Error invalid(const std::string& message) { return Error{ErrorCode::InvalidRequest, message}; }

// A decimal up to 2^63 with no sign, no leading zeros.
std::optional<std::uint64_t> decimal(const std::string& s) {
  if (s.empty() || s.size() > 18 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

// The query parameter `name` as a decimal: nullopt when absent; `bad` (naming the
// parameter) when it is not one.
Result<std::optional<std::uint64_t>> numberParam(const std::string& query, std::string_view name,
                                                 const std::string& bad) {
  SEALGATE_ASSIGN_OR_RETURN(auto raw, queryValue(query, name));
  if (!raw) return std::optional<std::uint64_t>();
  auto v = decimal(*raw);
  if (!v) return invalid(bad);
  return std::optional<std::uint64_t>(*v);
}

// Both proof parameters, present and decimal, or `bad`.
Result<std::pair<std::uint64_t, std::uint64_t>> twoNumbers(const std::string& query, std::string_view a,
                                                           std::string_view b, const std::string& bad) {
  SEALGATE_ASSIGN_OR_RETURN(auto x, numberParam(query, a, bad));
  SEALGATE_ASSIGN_OR_RETURN(auto y, numberParam(query, b, bad));
  if (!x || !y) return invalid(bad);
  return std::make_pair(*x, *y);
}

constexpr std::array<std::string_view, 7> kEntryParams = {"type",  "tenant", "outcome", "since",
                                                          "until", "limit",  "before"};
constexpr std::size_t kMaxFilterBytes = 256;

Result<std::optional<std::int64_t>> unixSecondsParam(const std::string& query, std::string_view name) {
  const std::string n(name);
  SEALGATE_ASSIGN_OR_RETURN(
      auto v, numberParam(query, name,
                          n + " is unix seconds, a non-negative integer such as 1767225600 (RFC 3339 times are "
                              "not accepted)"));
  if (!v) return std::optional<std::int64_t>();
  if (*v > static_cast<std::uint64_t>(kEntriesMaxUnixSeconds)) {
    return invalid(n + " is out of range (at most " + std::to_string(kEntriesMaxUnixSeconds) + ")");
  }
  return std::optional<std::int64_t>(static_cast<std::int64_t>(*v));
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

Result<EntryQuery> parseEntryQuery(const std::string& query) {
  SEALGATE_TRY(onlyKnownQueryParams(query, kEntryParams));
  EntryQuery q;
  for (auto [name, field] : {std::pair{"type", &q.type}, {"tenant", &q.tenant}, {"outcome", &q.outcome}}) {
    SEALGATE_ASSIGN_OR_RETURN(*field, queryValue(query, name));
    if (*field && (field->value().empty() || field->value().size() > kMaxFilterBytes)) {
      return invalid(std::string(name) + " must be 1 to " + std::to_string(kMaxFilterBytes) + " bytes");
    }
  }
  SEALGATE_ASSIGN_OR_RETURN(q.since, unixSecondsParam(query, "since"));
  SEALGATE_ASSIGN_OR_RETURN(q.until, unixSecondsParam(query, "until"));
  if (q.since && q.until && *q.since > *q.until) return invalid("since is after until");
  const std::string limitRange = "limit is an integer from 1 to " + std::to_string(kEntriesMaxLimit);
  SEALGATE_ASSIGN_OR_RETURN(auto limit, numberParam(query, "limit", limitRange));
  if (limit && (*limit < 1 || *limit > kEntriesMaxLimit)) return invalid(limitRange);
  q.limit = limit.value_or(kEntriesDefaultLimit);
  SEALGATE_ASSIGN_OR_RETURN(q.before, numberParam(query, "before", "before is an entry index, a non-negative integer"));
  return q;
}

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
  auto exported = log_.exportWithSize();
  if (!exported) return unavailable(exported.error());
  Response r;
  r.rawBody = std::move(exported->bundle);
  // The server sets Content-Length from the body, built whole in memory: with it
  // a browser can show the download's progress.
  const std::string size = std::to_string(exported->treeSize);
  r.headers["X-Sealgate-Audit-Entries"] = size;
  r.headers["Content-Disposition"] = "attachment; filename=\"sealgate-audit-" + size + ".json\"";
  return r;
}

HandlerResult AuditApi::entries(Request& request) {
  auto query = parseEntryQuery(request.query);
  if (!query) return HttpError{query.error().code, query.error().message};
  auto page = pageEntries(log_, *query, scanCap_);
  if (!page) return unavailable(page.error());
  json items = json::array();
  for (auto& item : page->entries) items.push_back(json{{"index", item.index}, {"entry", std::move(item.entry)}});
  json body = {{"entries", std::move(items)}, {"tree_size", page->treeSize}};
  if (page->nextBefore) body["next_before"] = *page->nextBefore;
  return Response{200, std::move(body)};
}

HandlerResult AuditApi::inclusionProof(Request& request) {
  auto args = twoNumbers(request.query, "index", "tree_size", "index and tree_size are non-negative integers");
  if (!args) return HttpError{args.error().code, args.error().message};
  const auto [index, size] = *args;
  auto proof = log_.inclusionProof(index, size);
  if (!proof) return HttpError{ErrorCode::InvalidRequest, proof.error().message};
  auto leaves = log_.leafHashes(index + 1);
  return Response{
      200,
      json{{"index", index}, {"tree_size", size}, {"leaf_hash", base64Std(leaves.at(index))}, {"proof", b64(*proof)}}};
}

HandlerResult AuditApi::consistencyProof(Request& request) {
  auto args = twoNumbers(request.query, "first", "second", "first and second are non-negative integers");
  if (!args) return HttpError{args.error().code, args.error().message};
  const auto [first, second] = *args;
  auto proof = log_.consistencyProof(first, second);
  if (!proof) return HttpError{ErrorCode::InvalidRequest, proof.error().message};
  return Response{200, json{{"first", first}, {"second", second}, {"proof", b64(*proof)}}};
}

}  // namespace sealgate::appliance
