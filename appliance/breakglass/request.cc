#include "appliance/breakglass/request.h"

#include <openssl/sha.h>

#include <algorithm>
#include <tuple>

#include "core/encoding.h"
#include "core/secret_uri.h"

namespace sealgate::appliance::breakglass {

using nlohmann::json;

namespace {

Error invalid(const std::string& message) { return makeError(ErrorCode::InvalidRequest, message); }

bool isActionName(const std::string& a) {
  if (a.empty() || a.size() > 64 || a[0] < 'a' || a[0] > 'z') return false;
  return std::all_of(a.begin(), a.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

bool printable(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}

void sortUnique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// A prefix is a secret URI without version or field, down to a mount at least:
// secret://tenant/mount or secret://tenant/mount/a/b. The URI grammar needs a
// path, so a mount-wide prefix is checked as that mount with one segment added.
Result<std::string> canonicalPrefix(const std::string& text, const std::string& tenant) {
  auto uri = SecretUri::parse(text);
  bool mountOnly = false;
  if (!uri) {
    auto withSegment = SecretUri::parse(text + "/x");
    if (!withSegment || withSegment->path().size() != 1) return uri.error();
    uri = std::move(withSegment);
    mountOnly = true;
  }
  if (uri->version() || uri->field()) return invalid("a URI prefix has no version or field");
  SEALGATE_TRY(uri->checkTenant(tenant));
  if (mountOnly) return "secret://" + uri->tenant() + "/" + uri->mount();
  return uri->canonicalWithoutVersionAndField();
}

Result<std::vector<std::string>> stringList(const json& body, const char* name, std::size_t max) {
  const json& v = body[name];
  if (!v.is_array() || v.empty() || v.size() > max) {
    return invalid(std::string("'") + name + "' must be a non-empty array of at most " + std::to_string(max) +
                   " strings");
  }
  std::vector<std::string> out;
  for (const auto& item : v) {
    if (!item.is_string() || item.get<std::string>().empty()) {
      return invalid(std::string("'") + name + "' holds non-empty strings");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

void putField(std::string& out, std::string_view s) {
  const auto n = static_cast<std::uint32_t>(s.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(s);
}

void putU64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

void putList(std::string& out, const std::vector<std::string>& items) {
  putField(out, std::to_string(items.size()));
  for (const auto& item : items) putField(out, item);
}

std::array<std::uint8_t, 32> sha256(std::string_view data) {
  std::array<std::uint8_t, 32> d{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data());
  return d;
}

}  // namespace

namespace {

// The request as asked for: the fields of both the stored record and the API view.
json whatWasAsked(const Request& r) {
  json asked = {{"id", r.id},
                {"requester", r.requester},
                {"tenant", r.ask.tenant},
                {"uri_prefixes", r.ask.uriPrefixes},
                {"actions", r.ask.actions},
                {"mode", modeName(r.ask.mode)},
                {"reason", r.ask.reason},
                {"duration_seconds", r.ask.durationSeconds},
                {"created_at", r.createdAt},
                {"expires_at", r.expiresAt}};
  if (isApproverChange(r.ask.mode)) asked["approver"] = r.ask.approver;
  return asked;
}

}  // namespace

namespace {

constexpr std::pair<Mode, const char*> kModes[] = {{Mode::PdpOutage, "pdp_outage"},
                                                   {Mode::Override, "override"},
                                                   {Mode::EnrolApprover, "enrol_approver"},
                                                   {Mode::RemoveApprover, "remove_approver"}};

std::optional<Mode> modeOf(const json& name) {
  for (const auto& [m, text] : kModes) {
    if (name == text) return m;
  }
  return std::nullopt;
}

}  // namespace

const char* modeName(Mode mode) {
  for (const auto& [m, name] : kModes) {
    if (m == mode) return name;
  }
  return "pdp_outage";
}

bool validApproverName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

bool isApproverChange(Mode mode) { return mode == Mode::EnrolApprover || mode == Mode::RemoveApprover; }

const char* stateName(State state) {
  switch (state) {
    case State::Pending:
      return "pending";
    case State::Open:
      return "open";
    case State::Ended:
      return "ended";
    case State::Expired:
      return "expired";
  }
  return "ended";
}

namespace {

// The fields of one kind of request: all required, no other allowed.
Result<void> checkAskFields(const json& body, std::initializer_list<const char*> fields) {
  for (const auto& [key, _] : body.items()) {
    if (std::find(fields.begin(), fields.end(), key) == fields.end()) {
      return makeError(ErrorCode::UnknownField, "unknown field '" + key.substr(0, 64) + "'");
    }
  }
  for (const char* f : fields) {
    if (!body.contains(f)) return invalid(std::string("'") + f + "' is required");
  }
  return Ok{};
}

// tenant, uri_prefixes and actions of an access request.
Result<void> parseScope(const json& body, Ask& ask) {
  if (!body["tenant"].is_string() || !isValidTenantName(body["tenant"].get<std::string>())) {
    return invalid("'tenant' must be a tenant name");
  }
  ask.tenant = body["tenant"].get<std::string>();
  SEALGATE_ASSIGN_OR_RETURN(auto prefixes, stringList(body, "uri_prefixes", kMaxPrefixes));
  for (const auto& p : prefixes) {
    SEALGATE_ASSIGN_OR_RETURN(auto canonical, canonicalPrefix(p, ask.tenant));
    ask.uriPrefixes.push_back(std::move(canonical));
  }
  sortUnique(ask.uriPrefixes);
  SEALGATE_ASSIGN_OR_RETURN(ask.actions, stringList(body, "actions", kMaxActions));
  if (!std::all_of(ask.actions.begin(), ask.actions.end(), isActionName)) {
    return invalid("'actions' holds action names ([a-z][a-z0-9_.-]*)");
  }
  sortUnique(ask.actions);
  return Ok{};
}

}  // namespace

Result<Ask> parseAsk(const json& body, std::int64_t maxDurationSeconds) {
  if (!body.is_object()) return invalid("the body must be a JSON object");
  if (!body.contains("mode")) return invalid("'mode' is required");
  const auto mode = modeOf(body["mode"]);
  if (!mode) {
    return invalid("'mode' must be \"pdp_outage\", \"override\", \"enrol_approver\" or \"remove_approver\"");
  }
  Ask ask;
  ask.mode = *mode;
  if (isApproverChange(ask.mode)) {
    SEALGATE_TRY(checkAskFields(body, {"mode", "approver", "reason", "duration_seconds"}));
    if (!body["approver"].is_string() || !validApproverName(body["approver"].get<std::string>())) {
      return invalid("'approver' must be an approver name ([a-z0-9][a-z0-9._-]{0,63})");
    }
    ask.approver = body["approver"].get<std::string>();
  } else {
    SEALGATE_TRY(checkAskFields(body, {"tenant", "uri_prefixes", "actions", "mode", "reason", "duration_seconds"}));
    SEALGATE_TRY(parseScope(body, ask));
  }
  const json& reason = body["reason"];
  if (!reason.is_string() || reason.get<std::string>().empty() || reason.get<std::string>().size() > kMaxReasonBytes ||
      !printable(reason.get<std::string>())) {
    return invalid("'reason' must be printable text of 1 to " + std::to_string(kMaxReasonBytes) + " bytes");
  }
  ask.reason = reason.get<std::string>();
  const json& duration = body["duration_seconds"];
  if (!duration.is_number_unsigned() || duration.get<std::uint64_t>() == 0 ||
      duration.get<std::uint64_t>() > static_cast<std::uint64_t>(maxDurationSeconds)) {
    return invalid("'duration_seconds' must be 1 to " + std::to_string(maxDurationSeconds) +
                   " (breakglass.max_duration_seconds)");
  }
  ask.durationSeconds = duration.get<std::int64_t>();
  return ask;
}

bool QuoteClock::isAfter(const QuoteClock& earlier) const {
  return std::tie(resetCount, restartCount, clock) > std::tie(earlier.resetCount, earlier.restartCount, earlier.clock);
}

State Request::stateAt(std::int64_t now) const {
  if (state == State::Pending && now >= expiresAt) return State::Expired;
  if (state == State::Open && now >= endsAt) return State::Ended;
  return state;
}

std::string canonicalEncoding(const Request& r) {
  std::string out = "sealgate-breakglass-request/1";
  out.push_back('\0');
  putField(out, r.id);
  putField(out, r.requester);
  putField(out, r.ask.tenant);
  putList(out, r.ask.uriPrefixes);
  putList(out, r.ask.actions);
  putField(out, modeName(r.ask.mode));
  putField(out, r.ask.reason);
  putU64(out, static_cast<std::uint64_t>(r.ask.durationSeconds));
  putU64(out, static_cast<std::uint64_t>(r.expiresAt));
  // An approver change (its mode, above, says so) ends with the approver's name.
  if (isApproverChange(r.ask.mode)) putField(out, r.ask.approver);
  return out;
}

std::array<std::uint8_t, 32> requestDigest(const Request& r) { return sha256(canonicalEncoding(r)); }

std::array<std::uint8_t, 32> qualifyingData(const Request& r) {
  const auto digest = requestDigest(r);
  std::string both(reinterpret_cast<const char*>(digest.data()), digest.size());
  both.append(reinterpret_cast<const char*>(r.nonce.data()), r.nonce.size());
  return sha256(both);
}

bool inScope(const Ask& ask, const std::string& canonicalUri, const std::string& action) {
  if (std::find(ask.actions.begin(), ask.actions.end(), action) == ask.actions.end()) return false;
  // The path part ends at '?' or '#' (version, field); a prefix covers whole segments.
  const std::string_view path = std::string_view(canonicalUri).substr(0, canonicalUri.find_first_of("?#"));
  return std::any_of(ask.uriPrefixes.begin(), ask.uriPrefixes.end(), [&](const std::string& prefix) {
    return path == prefix ||
           (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 && path[prefix.size()] == '/');
  });
}

json toRecord(const Request& r) {
  json approvals = json::array();
  for (const auto& a : r.approvals) {
    approvals.push_back({{"approver", a.approver},
                         {"ak", a.akFingerprint},
                         {"at", a.at},
                         {"clock", a.clock.clock},
                         {"reset_count", a.clock.resetCount},
                         {"restart_count", a.clock.restartCount}});
  }
  json out = whatWasAsked(r);
  out.update({{"nonce", hexLower(r.nonce)},
              {"approvals", std::move(approvals)},
              {"state", stateName(r.state)},
              {"opens_at", r.opensAt},
              {"ends_at", r.endsAt},
              {"ended_by", r.endedBy}});
  return out;
}

Result<Request> fromRecord(const json& j) {
  // The record was written by toRecord into the sealed state (authenticated), so a
  // record that does not read back is a bug or a newer format, not an attack.
  try {
    Request r;
    r.id = j.at("id").get<std::string>();
    r.requester = j.at("requester").get<std::string>();
    r.ask.tenant = j.at("tenant").get<std::string>();
    r.ask.uriPrefixes = j.at("uri_prefixes").get<std::vector<std::string>>();
    r.ask.actions = j.at("actions").get<std::vector<std::string>>();
    const auto mode = modeOf(j.at("mode"));
    if (!mode) return makeError(ErrorCode::StateTampered, "a break-glass request record has an unknown mode");
    r.ask.mode = *mode;
    if (isApproverChange(r.ask.mode)) r.ask.approver = j.at("approver").get<std::string>();
    r.ask.reason = j.at("reason").get<std::string>();
    r.ask.durationSeconds = j.at("duration_seconds").get<std::int64_t>();
    r.createdAt = j.at("created_at").get<std::int64_t>();
    r.expiresAt = j.at("expires_at").get<std::int64_t>();
    const auto nonce = decodeHex(j.at("nonce").get<std::string>());
    if (!nonce || nonce->size() != r.nonce.size()) return makeError(ErrorCode::StateTampered, "bad break-glass nonce");
    std::copy(nonce->begin(), nonce->end(), r.nonce.begin());
    for (const auto& a : j.at("approvals")) {
      r.approvals.push_back(
          Approval{a.at("approver").get<std::string>(), a.at("ak").get<std::string>(), a.at("at").get<std::int64_t>(),
                   QuoteClock{a.at("clock").get<std::uint64_t>(), a.at("reset_count").get<std::uint32_t>(),
                              a.at("restart_count").get<std::uint32_t>()}});
    }
    const std::string state = j.at("state").get<std::string>();
    r.state = state == "open"      ? State::Open
              : state == "ended"   ? State::Ended
              : state == "expired" ? State::Expired
                                   : State::Pending;
    r.opensAt = j.at("opens_at").get<std::int64_t>();
    r.endsAt = j.at("ends_at").get<std::int64_t>();
    r.endedBy = j.at("ended_by").get<std::string>();
    return r;
  } catch (const json::exception&) {
    return makeError(ErrorCode::StateTampered, "a break-glass request record does not read back");
  }
}

json toApiJson(const Request& r, std::int64_t now, std::size_t quorum) {
  const State state = r.stateAt(now);
  json approvers = json::array();
  for (const auto& a : r.approvals)
    approvers.push_back({{"approver", a.approver}, {"ak_fingerprint", a.akFingerprint}, {"at", a.at}});
  json out = whatWasAsked(r);
  out.update({{"digest", hexLower(requestDigest(r))},
              {"state", stateName(state)},
              {"approvals", std::move(approvers)},
              {"approvals_needed", r.approvals.size() >= quorum ? 0 : quorum - r.approvals.size()}});
  // The nonce is only of use while approvals are taken.
  if (state == State::Pending) out["nonce"] = hexLower(r.nonce);
  if (r.opensAt != 0) {
    out["opens_at"] = r.opensAt;
    out["ends_at"] = r.endsAt;
  }
  if (!r.endedBy.empty()) out["ended_by"] = r.endedBy;
  return out;
}

}  // namespace sealgate::appliance::breakglass
