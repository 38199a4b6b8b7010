#include "appliance/breakglass/service.h"

#include <openssl/rand.h>

#include <algorithm>

#include "core/encoding.h"
#include "core/json_parse.h"

namespace sealgate::appliance::breakglass {

using nlohmann::json;

namespace {

constexpr std::string_view kAdminSpiffePrefix = "spiffe://sealgate-admin/";
constexpr std::string_view kApproverSpiffePrefix = "spiffe://sealgate-admin/approver/";

void noteClock(std::map<std::string, QuoteClock>& last, const Approval& a) {
  auto [it, inserted] = last.try_emplace(a.akFingerprint, a.clock);
  if (!inserted && a.clock.isAfter(it->second)) it->second = a.clock;
}

}  // namespace

std::string personOf(const Settings& settings, const std::string& spiffeId) {
  if (spiffeId.compare(0, kAdminSpiffePrefix.size(), kAdminSpiffePrefix) != 0) return spiffeId;
  const std::string roleAndName = spiffeId.substr(kAdminSpiffePrefix.size());
  if (auto it = settings.persons.find(roleAndName); it != settings.persons.end()) return it->second;
  const auto slash = roleAndName.find('/');
  return slash == std::string::npos ? roleAndName : roleAndName.substr(slash + 1);
}

BreakGlass::BreakGlass(StateStore& state, ApprovalVerifier& verifier, Settings settings)
    : state_(state), verifier_(verifier), settings_(std::move(settings)) {}

Result<void> BreakGlass::load() {
  std::map<std::string, Request> requests;
  std::map<std::string, QuoteClock> last;
  for (const auto& record : state_.records(kRequestRecordKind)) {
    SEALGATE_ASSIGN_OR_RETURN(auto j, parseJson(record.dataJson, {.maxDepth = kMaxInternalJsonDepth}));
    SEALGATE_ASSIGN_OR_RETURN(auto request, fromRecord(j));
    if (request.id != record.id) return makeError(ErrorCode::StateTampered, "a break-glass record is under another id");
    for (const auto& a : request.approvals) noteClock(last, a);
    requests.emplace(request.id, std::move(request));
  }
  std::lock_guard lock(mu_);
  requests_ = std::move(requests);
  lastClock_ = std::move(last);
  return Ok{};
}

Result<void> BreakGlass::persistLocked(const Request& request) {
  return state_.putRecord({kRequestRecordKind, request.id, toRecord(request).dump()});
}

Result<Request> BreakGlass::create(const std::string& requester, Ask ask, std::int64_t now) {
  Request r;
  std::array<std::uint8_t, 16> id{};
  if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1 ||
      RAND_bytes(r.nonce.data(), static_cast<int>(r.nonce.size())) != 1) {
    return makeError(ErrorCode::Internal, "no randomness for a break-glass request");
  }
  r.id = hexLower(id);
  r.requester = requester;
  r.ask = std::move(ask);
  r.createdAt = now;
  r.expiresAt = now + settings_.requestTtlSeconds;
  std::lock_guard lock(mu_);
  SEALGATE_TRY(persistLocked(r));
  requests_.emplace(r.id, r);
  return r;
}

Result<BreakGlass::ApprovalOutcome> BreakGlass::approve(const std::string& approverSpiffeId,
                                                        const std::string& requestId,
                                                        std::span<const std::uint8_t> attest,
                                                        std::span<const std::uint8_t> signature, std::int64_t now) {
  std::lock_guard lock(mu_);
  const auto it = requests_.find(requestId);
  if (it == requests_.end()) return makeError(ErrorCode::BreakglassRequestUnknown, "no such break-glass request");
  const Request& current = it->second;
  switch (current.stateAt(now)) {
    case State::Pending:
      break;
    case State::Expired:
      return makeError(ErrorCode::BreakglassRequestExpired, "the request was not approved in time");
    default:
      return makeError(ErrorCode::BreakglassRequestClosed, "the request takes no more approvals");
  }
  if (personOf(settings_, approverSpiffeId) == personOf(settings_, current.requester)) {
    return makeError(ErrorCode::ApprovalSelf, "the requester cannot approve their own request");
  }
  const std::string approver = approverSpiffeId.substr(approverSpiffeId.rfind('/') + 1);
  // One approval a person: two approver names that `persons` maps to one person count once.
  const std::string person = personOf(settings_, approverSpiffeId);
  if (std::any_of(current.approvals.begin(), current.approvals.end(), [&](const Approval& a) {
        return personOf(settings_, std::string(kApproverSpiffePrefix) + a.approver) == person;
      })) {
    return makeError(ErrorCode::ApprovalDuplicate, "this person has approved the request already");
  }
  SEALGATE_ASSIGN_OR_RETURN(auto verified, verifier_.verify(approver, attest, signature, qualifyingData(current)));
  if (auto last = lastClock_.find(verified.akFingerprint);
      last != lastClock_.end() && !verified.clock.isAfter(last->second)) {
    return makeError(ErrorCode::QuoteNotFresh, "the quote is not newer than the last one of this attestation key");
  }
  Request next = current;
  next.approvals.push_back(Approval{approver, verified.akFingerprint, now, verified.clock});
  const bool opened = next.approvals.size() >= settings_.quorum;
  if (opened) {
    next.state = State::Open;
    next.opensAt = now;
    next.endsAt = now + next.ask.durationSeconds;
  }
  SEALGATE_TRY(persistLocked(next));
  noteClock(lastClock_, next.approvals.back());
  it->second = next;
  return ApprovalOutcome{std::move(next), opened};
}

Result<Request> BreakGlass::close(const std::string& requestId, const std::string& by, std::int64_t now) {
  std::lock_guard lock(mu_);
  const auto it = requests_.find(requestId);
  if (it == requests_.end()) return makeError(ErrorCode::BreakglassRequestUnknown, "no such break-glass request");
  if (it->second.stateAt(now) != State::Open) return makeError(ErrorCode::BreakglassNotOpen, "the window is not open");
  Request next = it->second;
  next.state = State::Ended;
  next.endsAt = now;
  next.endedBy = by;
  SEALGATE_TRY(persistLocked(next));
  it->second = next;
  return next;
}

std::optional<Request> BreakGlass::find(const std::string& requestId) const {
  std::lock_guard lock(mu_);
  const auto it = requests_.find(requestId);
  if (it == requests_.end()) return std::nullopt;
  return it->second;
}

std::vector<Request> BreakGlass::list() const {
  std::lock_guard lock(mu_);
  std::vector<Request> out;
  for (const auto& [id, r] : requests_) out.push_back(r);
  std::sort(out.begin(), out.end(), [](const Request& a, const Request& b) { return a.createdAt > b.createdAt; });
  return out;
}

std::size_t BreakGlass::openWindows(std::int64_t now) const {
  std::lock_guard lock(mu_);
  return static_cast<std::size_t>(std::count_if(requests_.begin(), requests_.end(),
                                                [&](const auto& kv) { return kv.second.stateAt(now) == State::Open; }));
}

std::optional<OpenBreakGlassWindow> BreakGlass::windowFor(const std::string& tenant, const std::string& canonicalUri,
                                                          const std::string& action, bool pdpDenied,
                                                          std::int64_t now) const {
  std::lock_guard lock(mu_);
  const Request* best = nullptr;
  for (const auto& [id, r] : requests_) {
    if (r.stateAt(now) != State::Open || isApproverChange(r.ask.mode) || r.ask.tenant != tenant) continue;
    if (pdpDenied && r.ask.mode != Mode::Override) continue;
    if (!inScope(r.ask, canonicalUri, action)) continue;
    // Of several windows, the one that ends last (a grant's exp is capped by it).
    if (best == nullptr || r.endsAt > best->endsAt) best = &r;
  }
  if (best == nullptr) return std::nullopt;
  return OpenBreakGlassWindow{best->id, best->endsAt};
}

std::optional<std::string> BreakGlass::approverChangeWindow(const std::string& approver, Mode change,
                                                            std::int64_t now) const {
  std::lock_guard lock(mu_);
  for (const auto& [id, r] : requests_) {
    if (r.ask.mode == change && r.ask.approver == approver && r.stateAt(now) == State::Open) return id;
  }
  return std::nullopt;
}

bool BreakGlass::windowOpen(const std::string& requestId, std::int64_t now) const {
  std::lock_guard lock(mu_);
  const auto it = requests_.find(requestId);
  return it != requests_.end() && it->second.stateAt(now) == State::Open;
}

Result<std::vector<Request>> BreakGlass::settle(std::int64_t now) {
  std::lock_guard lock(mu_);
  std::vector<Request> ended;
  for (auto& [id, r] : requests_) {
    const State state = r.stateAt(now);
    if (state == r.state) continue;
    Request next = r;
    next.state = state;
    if (state == State::Ended) next.endedBy = "expiry";
    SEALGATE_TRY(persistLocked(next));
    r = next;
    if (state == State::Ended) ended.push_back(std::move(next));
  }
  return ended;
}

}  // namespace sealgate::appliance::breakglass
