// POST /v1/execute (API.md; docs/CONNECTORS.md): spend one use of a grant and
// run an action on a connector with the grant's secrets in slots. The caller
// gets the connector's scrubbed result, never a value.
//
// Order, as docs/DESIGN.md ("Grants") asks:
//  1. everything that can fail before the attempt, changing no state: the body,
//     the grant and its binding, each slot's URI covered by the grant, where the
//     placeholders sit, the tenant's egress allow-list;
//  2. one use spent, durably (a refusal is audited);
//  3. the secrets fetched into Secret slots; each value (and each leaf of a JSON
//     document) checked usable (core/slot_values.h), then made live in the
//     request's egress scope (core/egress_guard.h, EgressScope), which the HTTP
//     server keeps open until the response and its log line are written;
//  4. the connector runs; the slots are wiped as soon as it returns;
//  5. the result scrubbed by the egress guard;
//  6. the audit event committed, then the answer.
// From step 2 on the use is spent whatever happens, and the outcome is audited.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "appliance/config/config.h"
#include "appliance/grants/presentation.h"
#include "appliance/server/http_server.h"
#include "appliance/telemetry/metrics.h"
#include "core/egress_guard.h"
#include "core/interfaces/audit_sink.h"
#include "core/interfaces/connector.h"
#include "core/interfaces/secret_provider.h"
#include "core/resource_ref.h"

namespace sealgate::appliance {

// The words a slot value must not be found in (core/slot_values.h,
// protocolVocabulary()), plus every object key and enumerated string of the
// OpenAPI document `openApiJson` (field names, error codes).
std::string protocolVocabularyWith(std::string_view openApiJson);

class ExecuteApi {
 public:
  // What `tenant` may reach through `connector`: the policy's egress section.
  using EgressLookup = std::function<EgressRules(const std::string& tenant, const std::string& connector)>;

  ExecuteApi(const ConnectorSettings& settings, GrantPresentation& presentation, ResourceRefs& refs,
             SecretProvider& secrets, AuditSink& audit, EgressLookup egress, std::string vocabulary, Metrics& metrics);
  void add(std::unique_ptr<Connector> connector);

  HandlerResult execute(Request& request);

 private:
  struct Slot;
  struct Attempt;

  // Step 1, changing no state.
  std::variant<Connector*, HttpError> connectorFor(const nlohmann::json& body);
  std::variant<std::vector<Slot>, HttpError> resolveSlots(const Request& request, const GrantClaims& claims,
                                                          const Connector& connector);
  std::variant<ConnectorContext, HttpError> checkAction(const Request& request, const std::vector<Slot>& slots,
                                                        Connector& connector);
  // A refusal before the attempt: logged and counted, not audited.
  HttpError refuse(const Request& request, const Connector& connector, ErrorCode code, const std::string& message);
  // Steps 3 to 5; each failure is the attempt's outcome.
  std::optional<Error> fetchSlots(const Request& request, Attempt& attempt);
  std::optional<Error> checkUsable(Attempt& attempt);
  std::optional<Error> makeLive(Attempt& attempt, EgressScope& scope);
  HandlerResult runAndScrub(const Request& request, Attempt& attempt, EgressGuard& guard);
  // Step 6: the spent attempt's outcome audited, then answered.
  HandlerResult finish(const Request& request, Attempt& attempt, std::optional<Error> failure, nlohmann::json result);

  const ConnectorSettings& settings_;
  GrantPresentation& presentation_;
  ResourceRefs& refs_;
  SecretProvider& secrets_;
  AuditSink& audit_;
  EgressLookup egress_;
  const std::string vocabulary_;
  Metrics& metrics_;
  std::map<std::string, std::unique_ptr<Connector>> connectors_;
};

}  // namespace sealgate::appliance
