// The PEP's grant endpoints: POST /v1/authorize, POST /v1/grants/consume,
// POST /v1/grants/delegate and GET /.well-known/jwks.json (API.md). Each parses
// its request, calls the grant logic (authorizer.h, delegation.h,
// presentation.h) and renders the answer; every decision is on the audit log
// before the caller sees it. With break-glass windows, authorize lets through
// items the PDP did not allow when an open window covers them
// (docs/BREAKGLASS.md, "Use in /v1/authorize").
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "appliance/config/config.h"
#include "appliance/grants/authorizer.h"
#include "appliance/grants/grants.h"
#include "appliance/grants/presentation.h"
#include "appliance/server/http_server.h"
#include "appliance/telemetry/metrics.h"
#include "core/interfaces/audit_sink.h"
#include "core/interfaces/breakglass_windows.h"
#include "core/interfaces/decision_point.h"
#include "core/interfaces/state_store.h"
#include "core/resource_ref.h"

namespace sealgate::appliance {

class PepApi {
 public:
  using Clock = std::chrono::system_clock;

  // `windows` null: no break-glass (a PDP failure fails the whole batch).
  // `metrics`, when given, counts the authorize decisions and the outcomes of
  // consume and delegate (API.md, "Metrics").
  PepApi(const Config& config, ResourceRefs& refs, GrantAuthority& grants, DecisionPoint& pdp, StateStore& state,
         AuditSink& audit, GrantPresentation& presentation, const BreakGlassWindows* windows = nullptr,
         Metrics* metrics = nullptr);

  HandlerResult authorize(Request& request);
  HandlerResult consume(Request& request);
  // Mints a child grant for another identity of the same tenant (RFC 8693 act
  // chain), never wider, longer-lived or with more uses than the parent.
  HandlerResult delegate(Request& request);
  HandlerResult jwks(Request& request);

 private:
  HandlerResult consumeGrant(Request& request);
  HandlerResult delegateGrant(Request& request);
  // Counts `result` as `operation`'s outcome: "ok" or its error code.
  HandlerResult counted(const char* operation, HandlerResult result);
  std::optional<HttpError> resolveRefs(const Request& request, std::vector<AuthorizeItem>& items);
  std::variant<std::vector<Decision>, HttpError> decide(const Request& request,
                                                        const std::vector<AuthorizeItem>& items);
  // The batch's outcome from the PDP's answer and the break-glass windows; the
  // PDP's failure stands when no window lets an item through.
  std::variant<BatchOutcome, HttpError> combine(const Request& request, const std::vector<AuthorizeItem>& items,
                                                std::variant<std::vector<Decision>, HttpError> decisions,
                                                std::int64_t now);
  GrantClaims claimsFor(const Request& request, const BatchOutcome& outcome, const std::string& decisionId,
                        const std::optional<std::string>& jkt, std::int64_t now) const;
  std::variant<std::string, HttpError> sign(const Request& request, const GrantClaims& claims);
  // Appends an authorize event; all-allow events may be sampled out
  // (audit.sample_allow), denials and break-glass events never are.
  std::optional<HttpError> recordDecision(const nlohmann::json& event);

  const Config& config_;
  ResourceRefs& refs_;
  GrantAuthority& grants_;
  DecisionPoint& pdp_;
  StateStore& state_;
  AuditSink& audit_;
  GrantPresentation& presentation_;
  const BreakGlassWindows* windows_;
  Metrics* metrics_;
  std::atomic<std::uint64_t> sampleCounter_{0};
};

}  // namespace sealgate::appliance
