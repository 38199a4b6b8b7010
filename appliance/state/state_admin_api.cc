#include "appliance/state/state_admin_api.h"

#include "appliance/audit/audit_http.h"
#include "appliance/server/list_page.h"
#include "core/time_format.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

const char* bindingName(StateStore::GrantBinding binding) {
  switch (binding) {
    case StateStore::GrantBinding::Mtls:
      return "mtls";
    case StateStore::GrantBinding::Dpop:
      return "dpop";
    case StateStore::GrantBinding::Unknown:
      break;
  }
  return "unknown";
}

}  // namespace

HandlerResult StateAdminApi::listGrants(Request& request) {
  if (request.identity.role != "admin" && request.identity.role != "auditor") {
    return HttpError{ErrorCode::Forbidden, "permission denied"};
  }
  auto query = listPageQuery(request);
  if (!query) return HttpError{query.error().code, query.error().message};
  const auto all = state_.grants();
  const auto page = pageOf(
      all, [](const auto& g) -> const std::string& { return g.grantId; }, *query);
  json list = json::array();
  for (const auto* g : page.items) {
    list.push_back({{"grant_id", g->grantId},
                    {"remaining_uses", g->remaining},
                    {"revoked", g->revoked},
                    {"expires_at", rfc3339Seconds(g->expiresAt)},
                    {"binding", bindingName(g->binding)}});
  }
  json out{{"grants", std::move(list)}, {"total", page.total}};
  if (page.nextAfter) out["next_after"] = *page.nextAfter;
  return Response{200, std::move(out)};
}

HandlerResult StateAdminApi::revokeGrant(Request& request) {
  if (request.identity.role != "admin") return HttpError{ErrorCode::Forbidden, "permission denied"};
  const std::string& id = request.pathParam;
  // Grant ids are base64url: anything else names no grant.
  if (id.find('.') != std::string::npos) return HttpError{ErrorCode::NotFound, "no such grant"};
  auto reason = reasonFromQuery(request);
  if (!reason) return HttpError{reason.error().code, reason.error().message};
  json event = auditEvent("grant_revoke", actorOf(request));
  event["grant_id"] = id;
  if (!reason->empty()) event["reason"] = *reason;
  event["outcome"] = "revoked";
  if (auto logged = audit_.append(event.dump()); !logged) {
    return auditUnavailable("the audit log cannot record the revocation; nothing changed");
  }
  // Remembered for the longest life a grant can have, so it cannot outlive it.
  auto r = state_.revoke(id, revocationKeepUntil_());
  if (!r) return HttpError{ErrorCode::StateUnavailable, "the revocation could not be recorded"};
  return Response{200, json{{"grant_id", id}, {"revoked", true}}};
}

}  // namespace sealgate::appliance
