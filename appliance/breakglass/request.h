// A break-glass request (docs/BREAKGLASS.md): what an admin asks for, its
// canonical encoding and digest (what each approver's TPM quotes), its
// approvals and window, and whether an authorize item falls inside its scope.
// No I/O: BreakGlass (service.h) keeps requests in the sealed state.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace sealgate::appliance::breakglass {

// pdp_outage: items in scope pass only when the PDP fails or times out.
// override: they also pass when the PDP denies them.
// enrol_approver / remove_approver: no items pass; the window lets an admin
// enrol or remove the approver `Ask::approver` once the quorum of approvers is
// enrolled (approvers.h: after bootstrap every change needs the quorum).
enum class Mode { PdpOutage, Override, EnrolApprover, RemoveApprover };
const char* modeName(Mode mode);
bool isApproverChange(Mode mode);

// [a-z0-9][a-z0-9._-]{0,63}: the <name> of spiffe://sealgate-admin/approver/<name>.
bool validApproverName(const std::string& name);

// What the admin asked for, validated and normalized: prefixes are canonical
// secret URIs without version or field (secret://tenant/mount[/path]) of the
// request's tenant, prefixes and actions sorted and without repeats, so one
// scope has one encoding.
// An approver change names the approver and nothing else: no tenant,
// prefixes or actions.
struct Ask {
  std::string approver;  // enrol_approver / remove_approver only
  std::string tenant;
  std::vector<std::string> uriPrefixes;
  std::vector<std::string> actions;
  Mode mode = Mode::PdpOutage;
  std::string reason;
  std::int64_t durationSeconds = 0;
};

inline constexpr std::size_t kMaxPrefixes = 32;
inline constexpr std::size_t kMaxActions = 16;
inline constexpr std::size_t kMaxReasonBytes = 1024;

// Access modes take tenant, uri_prefixes, actions, mode, reason,
// duration_seconds; approver changes mode, approver, reason, duration_seconds.
// UNKNOWN_FIELD (a field of the other kind too), INVALID_REQUEST (a missing or mistyped field, an empty list, a reason
// that is empty, too long or not printable, a duration of 0 or past `maxDurationSeconds`, an action that is not a
// name), a URI_* code for a prefix that is no secret URI, URI_TENANT_MISMATCH for a prefix of another tenant. Never
// echoes a URI.
Result<Ask> parseAsk(const nlohmann::json& body, std::int64_t maxDurationSeconds);

// The quote's ordering fields (TPMS_CLOCK_INFO): an approval must come after the
// last one seen from the same attestation key.
struct QuoteClock {
  std::uint64_t clock = 0;
  std::uint32_t resetCount = 0;
  std::uint32_t restartCount = 0;
  // (resetCount, restartCount, clock) compared in that order.
  bool isAfter(const QuoteClock& earlier) const;
};

struct Approval {
  std::string approver;       // the approver name (spiffe://sealgate-admin/approver/<name>)
  std::string akFingerprint;  // of the key that made the quote
  std::int64_t at = 0;        // unix seconds
  QuoteClock clock;
};

enum class State {
  Pending,  // waiting for approvals until expiresAt
  Open,     // the window: opensAt .. endsAt
  Ended,    // the window ended (endsAt passed, or closed early)
  Expired,  // not approved in time
};
const char* stateName(State state);

struct Request {
  std::string id;         // 32 hex digits
  std::string requester;  // the admin's SPIFFE ID
  Ask ask;
  std::int64_t createdAt = 0;
  std::int64_t expiresAt = 0;            // approvals are taken until then
  std::array<std::uint8_t, 32> nonce{};  // the server nonce, fixed at creation
  std::vector<Approval> approvals;
  State state = State::Pending;
  std::int64_t opensAt = 0;
  std::int64_t endsAt = 0;
  std::string endedBy;  // "expiry", or the SPIFFE ID that closed it early

  // State at `now`: a pending request past expiresAt is Expired, an open window
  // past endsAt is Ended, whatever the stored state still says.
  State stateAt(std::int64_t now) const;
};

// The canonical encoding of what approvers approve (BREAKGLASS.md, "The request
// digest"), its SHA-256, and the quote's qualifying data, SHA-256(digest ‖ nonce).
std::string canonicalEncoding(const Request& request);
std::array<std::uint8_t, 32> requestDigest(const Request& request);
std::array<std::uint8_t, 32> qualifyingData(const Request& request);

// True when `canonicalUri` (secret://tenant/mount/path[?version][#field]) lies
// under one of the prefixes (whole segments: .../pay covers .../pay and
// .../pay/x, never .../payroll) and `action` is one of the actions.
bool inScope(const Ask& ask, const std::string& canonicalUri, const std::string& action);

// The stored record (everything, for the sealed state) and the API's view (no
// nonce once the request is no longer pending; the digest and nonce in hex).
nlohmann::json toRecord(const Request& request);
Result<Request> fromRecord(const nlohmann::json& record);
nlohmann::json toApiJson(const Request& request, std::int64_t now, std::size_t quorum);

}  // namespace sealgate::appliance::breakglass
