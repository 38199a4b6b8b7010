// The break-glass endpoints of the admin listener (API.md, "Break-glass"):
// requests, approvals and windows (BreakGlass, service.h) and approver
// enrolment (Approvers, approvers.h). The handlers are thin: identity, body,
// the logic, audit. Byte strings travel as standard base64.
//
// Audit: every change and every refused approval or enrolment step is an event
// (`breakglass_request`, `breakglass_approval`, `breakglass_opened`,
// `breakglass_closed`, `breakglass_approver`), never sampled. The change is
// made first and then recorded; when the log cannot record it the caller gets
// 503 AUDIT_UNAVAILABLE saying what was done, and a window whose opening the
// log cannot record is closed again at once: no window is ever open unaudited.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "appliance/audit/audit_event.h"
#include "appliance/breakglass/approvers.h"
#include "appliance/breakglass/service.h"
#include "appliance/server/http_server.h"
#include "core/interfaces/audit_sink.h"

namespace sealgate::appliance::breakglass {

using HttpRequest = appliance::Request;  // breakglass::Request is a break-glass request

class BreakGlassApi {
 public:
  using Clock = std::function<std::int64_t()>;  // unix seconds

  BreakGlassApi(BreakGlass& service, Approvers& approvers, AuditSink& audit, Clock now);

  // POST /admin/v1/breakglass/requests (admin) -> 201 the request
  HandlerResult createRequest(HttpRequest& request);
  // GET /admin/v1/breakglass/requests, GET /admin/v1/breakglass/requests/{id}
  HandlerResult listRequests(HttpRequest& request);
  HandlerResult getRequest(HttpRequest& request);
  // POST /admin/v1/breakglass/requests/{id}/approvals (approver) {"attest","signature"}
  HandlerResult approve(HttpRequest& request);
  // DELETE /admin/v1/breakglass/active/{id} (admin): ends an open window now.
  HandlerResult closeWindow(HttpRequest& request);

  // Approver enrolment (approvers.h has the protocol).
  HandlerResult createApprover(HttpRequest& request);  // POST /admin/v1/breakglass/approvers (admin)
  HandlerResult submitDevice(HttpRequest& request);    // POST .../approvers/{name}/device (approver/<name>)
  HandlerResult activate(HttpRequest& request);        // POST .../approvers/{name}/activate (approver/<name>)
  HandlerResult listApprovers(HttpRequest& request);   // GET /admin/v1/breakglass/approvers
  HandlerResult removeApprover(HttpRequest& request);  // DELETE .../approvers/{name} (admin)

  // Stores the end of every window past its end and the expiry of every
  // pending request past its time, and records each ended window
  // (`breakglass_closed`, ended_by "expiry") with a warn log line. Run
  // periodically by the application.
  void settle();

  std::size_t openWindows() const;

 private:
  std::optional<HttpError> recordOpened(const Request& request, const appliance::Actor& actor);
  // `reason`: the admin's, when one closed the window early ("" otherwise).
  void recordClosed(const Request& request, const appliance::Actor& actor, const std::string& reason = "");
  void closeApproverChange(const std::string& approver, Mode change, const HttpRequest& request);

  BreakGlass& service_;
  Approvers& approvers_;
  AuditSink& audit_;
  Clock now_;
};

// The routes above. `api` null: break-glass is not configured, and every route
// answers 404 BREAKGLASS_DISABLED.
void addBreakGlassRoutes(std::vector<Route>& routes, BreakGlassApi* api);

}  // namespace sealgate::appliance::breakglass
