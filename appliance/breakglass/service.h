// BreakGlass: requests, attested approvals and windows (docs/BREAKGLASS.md).
// An admin creates a request; approvers approve it with TPM quotes over its
// digest and nonce; at `quorum` distinct approvals by persons other than the
// requester the window opens for the request's duration. Requests live in the
// sealed state, one record each, so a request moves from pending to open in
// one durable write: a crash leaves it pending or open, never half-approved
// or opened twice. The HTTP handlers audit; this class decides and persists.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "appliance/breakglass/request.h"
#include "appliance/config/config.h"
#include "core/interfaces/breakglass_windows.h"
#include "core/interfaces/state_store.h"
#include "core/result.h"

namespace sealgate::appliance::breakglass {

inline constexpr const char* kRequestRecordKind = "breakglass.request";

// breakglass.* of the configuration (docs/CONFIG.md); `enabled` and
// `ekCaFile` are the application's concern.
using Settings = BreakGlassSettings;

// The person behind an admin-listener identity "spiffe://sealgate-admin/<role>/<name>".
std::string personOf(const Settings& settings, const std::string& spiffeId);

// Checks an approval's quote against the approver's enrolled device
// (implemented over attest/ by keys/): the quote is by the approver's
// attestation key, over the enrolled PCR selection with the golden digest, and
// carries `qualifyingData`. APPROVER_NOT_ENROLLED, or the QUOTE_* code of the
// check that failed.
class ApprovalVerifier {
 public:
  virtual ~ApprovalVerifier() = default;
  struct Verified {
    std::string akFingerprint;
    QuoteClock clock;
  };
  virtual Result<Verified> verify(const std::string& approverName, std::span<const std::uint8_t> attest,
                                  std::span<const std::uint8_t> signature,
                                  const std::array<std::uint8_t, 32>& qualifyingData) = 0;
};

class BreakGlass : public BreakGlassWindows {
 public:
  BreakGlass(StateStore& state, ApprovalVerifier& verifier, Settings settings);

  // Reads every request from the state (at start, after the state opened).
  Result<void> load();

  // A new pending request by `requester` (an admin's SPIFFE ID), durable before
  // it returns; its id and nonce are random, it expires after requestTtlSeconds.
  Result<Request> create(const std::string& requester, Ask ask, std::int64_t now);

  struct ApprovalOutcome {
    Request request;
    bool opened = false;  // this approval reached the quorum
  };
  // Refusals change nothing: BREAKGLASS_REQUEST_UNKNOWN, BREAKGLASS_REQUEST_EXPIRED,
  // BREAKGLASS_REQUEST_CLOSED (open, ended), APPROVAL_SELF (the requester's
  // person), APPROVAL_DUPLICATE, the verifier's codes, QUOTE_NOT_FRESH (the
  // quote's clock is not after the last approval by the same key).
  Result<ApprovalOutcome> approve(const std::string& approverSpiffeId, const std::string& requestId,
                                  std::span<const std::uint8_t> attest, std::span<const std::uint8_t> signature,
                                  std::int64_t now);

  // Ends an open window early (BREAKGLASS_NOT_OPEN when it is not open).
  Result<Request> close(const std::string& requestId, const std::string& by, std::int64_t now);

  std::optional<Request> find(const std::string& requestId) const;
  std::vector<Request> list() const;
  std::size_t openWindows(std::int64_t now) const;

  // BreakGlassWindows: the open window that lets this item through, if any (of
  // several, the one that ends last); whether a window is open at `now`.
  std::optional<OpenBreakGlassWindow> windowFor(const std::string& tenant, const std::string& canonicalUri,
                                                const std::string& action, bool pdpDenied,
                                                std::int64_t now) const override;
  bool windowOpen(const std::string& requestId, std::int64_t now) const override;

  // The open window of an approved approver change (`change` is EnrolApprover
  // or RemoveApprover) for `approver`, if any: its request id.
  std::optional<std::string> approverChangeWindow(const std::string& approver, Mode change, std::int64_t now) const;

  // Stores the end of every window past its end and the expiry of every pending
  // request past its time; returns the windows that ended (to audit).
  Result<std::vector<Request>> settle(std::int64_t now);

  const Settings& settings() const { return settings_; }

 private:
  Result<void> persistLocked(const Request& request);

  StateStore& state_;
  ApprovalVerifier& verifier_;
  Settings settings_;
  mutable std::mutex mu_;
  std::map<std::string, Request> requests_;
  std::map<std::string, QuoteClock> lastClock_;  // by AK fingerprint, over every stored approval
};

}  // namespace sealgate::appliance::breakglass
