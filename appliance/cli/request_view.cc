#include "appliance/cli/request_view.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <limits>
#include <sstream>

#include "core/encoding.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

constexpr breakglass::Mode kModes[] = {breakglass::Mode::PdpOutage, breakglass::Mode::Override,
                                       breakglass::Mode::EnrolApprover, breakglass::Mode::RemoveApprover};

Error invalid(const std::string& what) {
  return makeError(ErrorCode::InvalidRequest, "the server's view of the request is unusable: " + what);
}

Result<std::string> stringField(const json& view, const char* name) {
  if (!view.contains(name) || !view[name].is_string()) return invalid(std::string("'") + name + "' is not a string");
  return view[name].get<std::string>();
}

Result<std::vector<std::string>> stringList(const json& view, const char* name) {
  if (!view.contains(name) || !view[name].is_array()) return invalid(std::string("'") + name + "' is not an array");
  std::vector<std::string> out;
  for (const auto& item : view[name]) {
    if (!item.is_string()) return invalid(std::string("'") + name + "' holds a non-string");
    out.push_back(item.get<std::string>());
  }
  return out;
}

// A non-negative integer that fits the int64 the digest encodes as u64 (parsed
// JSON holds it unsigned, a json built in memory signed).
Result<std::int64_t> secondsField(const json& view, const char* name) {
  const Error bad = invalid(std::string("'") + name + "' is not a non-negative integer");
  if (!view.contains(name)) return bad;
  const json& v = view[name];
  if (v.is_number_unsigned()) {
    if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return bad;
    return v.get<std::int64_t>();
  }
  if (!v.is_number_integer() || v.get<std::int64_t>() < 0) return bad;
  return v.get<std::int64_t>();
}

std::string duration(std::int64_t s) {
  std::string out = std::to_string(s) + " s";
  if (s >= 3600) {
    out += " (" + std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min)";
  } else if (s >= 60) {
    out += " (" + std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s)";
  }
  return out;
}

}  // namespace

std::string utcTime(std::int64_t unixSeconds) {
  const std::time_t t = static_cast<std::time_t>(unixSeconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(unixSeconds);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

Result<breakglass::Request> approvableRequest(const json& view, const std::string& requestId) {
  if (!view.is_object()) return invalid("not a JSON object");
  breakglass::Request r;
  SEALGATE_ASSIGN_OR_RETURN(r.id, stringField(view, "id"));
  if (r.id != requestId) return invalid("it is another request (" + terminalSafe(r.id) + ")");
  SEALGATE_ASSIGN_OR_RETURN(r.requester, stringField(view, "requester"));
  SEALGATE_ASSIGN_OR_RETURN(r.ask.tenant, stringField(view, "tenant"));
  SEALGATE_ASSIGN_OR_RETURN(r.ask.uriPrefixes, stringList(view, "uri_prefixes"));
  SEALGATE_ASSIGN_OR_RETURN(r.ask.actions, stringList(view, "actions"));
  SEALGATE_ASSIGN_OR_RETURN(const std::string mode, stringField(view, "mode"));
  const auto known = std::find_if(std::begin(kModes), std::end(kModes),
                                  [&](breakglass::Mode m) { return mode == breakglass::modeName(m); });
  if (known == std::end(kModes)) return invalid("'mode' is no break-glass mode");
  r.ask.mode = *known;
  // An approver change names the approver, and the digest ends with the name;
  // an access request has none, and a name shown with it would be signed by no one.
  if (breakglass::isApproverChange(r.ask.mode)) {
    SEALGATE_ASSIGN_OR_RETURN(r.ask.approver, stringField(view, "approver"));
  } else if (view.contains("approver")) {
    return invalid("an access request names no approver");
  }
  SEALGATE_ASSIGN_OR_RETURN(r.ask.reason, stringField(view, "reason"));
  SEALGATE_ASSIGN_OR_RETURN(r.ask.durationSeconds, secondsField(view, "duration_seconds"));
  SEALGATE_ASSIGN_OR_RETURN(r.expiresAt, secondsField(view, "expires_at"));
  SEALGATE_ASSIGN_OR_RETURN(const std::string digestHex, stringField(view, "digest"));
  const auto shownDigest = decodeHex(digestHex);
  if (!shownDigest || shownDigest->size() != 32) return invalid("'digest' is not 64 hex digits");

  SEALGATE_ASSIGN_OR_RETURN(const std::string state, stringField(view, "state"));
  if (state == "expired") {
    return makeError(ErrorCode::BreakglassRequestExpired, "the request expired before enough approvals");
  }
  if (state != "pending") {
    return makeError(ErrorCode::BreakglassRequestClosed,
                     "the request is " + terminalSafe(state) + ": it takes no more approvals");
  }
  SEALGATE_ASSIGN_OR_RETURN(const std::string nonceHex, stringField(view, "nonce"));
  const auto nonce = decodeHex(nonceHex);
  if (!nonce || nonce->size() != r.nonce.size()) return invalid("'nonce' is not 32 bytes of hex");
  std::copy(nonce->begin(), nonce->end(), r.nonce.begin());

  const auto digest = breakglass::requestDigest(r);
  if (CRYPTO_memcmp(digest.data(), shownDigest->data(), digest.size()) != 0) {
    return makeError(ErrorCode::RequestDigestMismatch,
                     "the request's fields hash to " + hexLower(digest) + ", not to the digest the server gave (" +
                         hexLower(*shownDigest) +
                         "): refusing to approve, as the TPM would sign something other than what is shown");
  }
  return r;
}

std::string terminalSafe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    // U+0080..U+009F, the C1 controls, are 0xC2 0x80..0x9F in UTF-8.
    const bool c1 = c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(text[i + 1]) <= 0x9F;
    if (c < 0x20 || c == 0x7F || c1) {
      const int n = c1 ? 2 : 1;
      for (int k = 0; k < n; ++k) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(text[i + k]));
        out += buf;
      }
      i += n - 1;
      continue;
    }
    out.push_back(static_cast<char>(c));
  }
  return out;
}

std::string describeForApproval(const breakglass::Request& r, const json& view) {
  std::ostringstream out;
  out << "break-glass request " << terminalSafe(r.id) << "\n";
  out << "  requested by   " << terminalSafe(r.requester) << "\n";
  if (breakglass::isApproverChange(r.ask.mode)) {
    const bool enrol = r.ask.mode == breakglass::Mode::EnrolApprover;
    out << "  approver       " << terminalSafe(r.ask.approver) << "\n";
    out << "  mode           " << breakglass::modeName(r.ask.mode) << " (while the window is open, an admin may "
        << (enrol ? "enrol" : "remove") << " this approver once; no /v1/authorize item passes)\n";
  } else {
    out << "  tenant         " << terminalSafe(r.ask.tenant) << "\n";
    const char* label = "  URI prefixes   ";
    for (const auto& p : r.ask.uriPrefixes) {
      out << label << terminalSafe(p) << "\n";
      label = "                 ";
    }
    std::string actions;
    for (const auto& a : r.ask.actions) actions += (actions.empty() ? "" : ", ") + terminalSafe(a);
    out << "  actions        " << actions << "\n";
    out << "  mode           " << breakglass::modeName(r.ask.mode)
        << (r.ask.mode == breakglass::Mode::Override ? " (covered items pass even when the PDP denies them)"
                                                     : " (covered items pass only when the PDP fails or times out)")
        << "\n";
  }
  out << "  reason         " << terminalSafe(r.ask.reason) << "\n";
  out << "  duration       " << duration(r.ask.durationSeconds) << " from the approval that opens it\n";
  out << "  approvable     until " << utcTime(r.expiresAt) << "\n";
  std::string approvers;
  if (view.contains("approvals") && view["approvals"].is_array()) {
    for (const auto& a : view["approvals"]) {
      if (a.is_object() && a.contains("approver") && a["approver"].is_string()) {
        approvers += (approvers.empty() ? "" : ", ") + terminalSafe(a["approver"].get<std::string>());
      }
    }
  }
  const auto count = view.contains("approvals") && view["approvals"].is_array() ? view["approvals"].size() : 0;
  out << "  approvals      " << count;
  if (view.contains("approvals_needed") && view["approvals_needed"].is_number_unsigned()) {
    out << " (" << view["approvals_needed"].get<std::uint64_t>() << " more needed)";
  }
  if (!approvers.empty()) out << ": " << approvers;
  out << "\n";
  out << "  digest         " << hexLower(breakglass::requestDigest(r)) << "\n";
  return out.str();
}

}  // namespace sealgate::appliance
