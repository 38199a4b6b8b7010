#include "appliance/execute/execute_api.h"

#include <Poco/Exception.h>
#include <Poco/URI.h>

#include <algorithm>
#include <chrono>
#include <iterator>

#include "appliance/audit/audit_http.h"
#include "appliance/telemetry/egress.h"
#include "appliance/telemetry/logging.h"
#include "core/json_parse.h"
#include "core/secret_uri.h"
#include "core/slot_template.h"
#include "core/slot_values.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxSlots = 16;

// host:port of the peer, for the audit event and logs (never a path or query).
std::string destinationOf(const json& action) {
  try {
    if (action.contains("url") && action["url"].is_string()) {
      const std::string url = action["url"];
      Poco::URI uri(url.substr(0, url.find_first_of("?#")));
      return uri.getHost() + ":" + std::to_string(uri.getPort());
    }
    if (action.contains("host") && action["host"].is_string()) {
      std::string port = action.contains("port") && action["port"].is_number_unsigned()
                             ? std::to_string(action["port"].get<std::uint64_t>())
                             : "default";
      return action["host"].get<std::string>() + ":" + port;
    }
  } catch (const Poco::Exception&) {
  }
  return "";
}

bool connectorAllowed(const json& obligations, const std::string& connector) {
  if (obligations.is_object() && obligations.contains("connectors") && obligations["connectors"].is_array()) {
    for (const auto& c : obligations["connectors"]) {
      if (c == connector) return true;
    }
    return false;
  }
  return connector != "hmac" && connector != "sign";
}

// Which problem slotValueShapeProblem() found, for the audit event.
const char* unusableReason(const std::string& problem) {
  if (problem.starts_with("holds fewer")) return "too_short";
  if (problem.starts_with("holds more")) return "too_large";
  return "low_entropy";
}

std::int64_t millisecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

std::string protocolVocabularyWith(std::string_view openApiJson) {
  json doc = parseInternalJson(openApiJson);
  json words = json::array();
  // Every member name, and every string of an "enum", of an object.
  auto wordsOf = [&](const json& object, std::vector<const json*>& stack) {
    for (const auto& [key, member] : object.items()) {
      words.push_back(key);
      if (key == "enum" && member.is_array()) {
        std::copy_if(member.begin(), member.end(), std::back_inserter(words),
                     [](const json& e) { return e.is_string(); });
      }
      stack.push_back(&member);
    }
  };
  std::vector<const json*> stack{&doc};
  while (!stack.empty()) {
    const json* j = stack.back();
    stack.pop_back();
    if (j->is_object()) {
      wordsOf(*j, stack);
    } else if (j->is_array()) {
      for (const auto& e : *j) stack.push_back(&e);
    }
  }
  return std::string(protocolVocabulary()) + words.dump();
}

struct ExecuteApi::Slot {
  std::string name;
  SecretUri uri;
  std::string resourceRef;
};

// One spent attempt, from the use taken to the answer.
struct ExecuteApi::Attempt {
  std::chrono::steady_clock::time_point started;
  Connector& connector;
  const json& action;
  ConnectorContext context;
  std::vector<Slot> slots;
  json event;
  // Step 3: each slot's value, and the leaves of one that holds a JSON document
  // (core/slot_values.h); each leaf is a value of its own.
  std::vector<FetchedSecret> values;
  std::vector<std::vector<Secret>> leaves;

  std::vector<const Secret*> valuesOf(std::size_t i) const {
    std::vector<const Secret*> out{&values[i].value};
    for (const auto& leaf : leaves[i]) out.push_back(&leaf);
    return out;
  }
  // A refused value is never made live, so the refusal's own audit event and
  // answer cannot be blocked by it.
  Error unusable(std::size_t i, const std::string& reason, const std::string& why) {
    event["failed_slot"] = slots[i].name;
    event["unusable"] = reason;
    return makeError(connector_errc::kSecretUnusable, "slot " + slots[i].name + " " + why);
  }
};

ExecuteApi::ExecuteApi(const ConnectorSettings& settings, GrantPresentation& presentation, ResourceRefs& refs,
                       SecretProvider& secrets, AuditSink& audit, EgressLookup egress, std::string vocabulary,
                       Metrics& metrics)
    : settings_(settings),
      presentation_(presentation),
      refs_(refs),
      secrets_(secrets),
      audit_(audit),
      egress_(std::move(egress)),
      vocabulary_(std::move(vocabulary)),
      metrics_(metrics) {}

void ExecuteApi::add(std::unique_ptr<Connector> connector) {
  const std::string name = connector->name();
  connectors_[name] = std::move(connector);
}

HandlerResult ExecuteApi::execute(Request& request) {
  const auto started = std::chrono::steady_clock::now();
  // ---- 1. checks that change no state ----
  if (auto err = checkFields(request.body, {"grant", "slots", "action"}, {"grant", "slots", "action"})) return *err;
  const json& b = request.body;
  // The HTTP server opens one per request; without it the values would be looked
  // for nowhere.
  EgressScope* const scope = EgressScope::current();
  if (scope == nullptr) return HttpError{ErrorCode::Internal, "no egress scope for this request"};
  auto found = connectorFor(b);
  if (auto* err = std::get_if<HttpError>(&found)) return *err;
  Connector& connector = *std::get<Connector*>(found);
  auto presented = presentation_.verify(request, b["grant"]);
  if (auto* err = std::get_if<HttpError>(&presented)) return *err;
  const GrantClaims& claims = std::get<GrantClaims>(presented);
  auto slots = resolveSlots(request, claims, connector);
  if (auto* err = std::get_if<HttpError>(&slots)) return *err;
  auto context = checkAction(request, std::get<std::vector<Slot>>(slots), connector);
  if (auto* err = std::get_if<HttpError>(&context)) return *err;

  // ---- 2. spend one use (the attempt starts here) ----
  Attempt attempt{started,
                  connector,
                  b["action"],
                  std::move(std::get<ConnectorContext>(context)),
                  std::move(std::get<std::vector<Slot>>(slots)),
                  auditEvent("execute", actorOf(request)),
                  {},
                  {}};
  json& event = attempt.event;
  event["grant_id"] = claims.jti;
  event["decision_id"] = claims.decisionId;
  event["connector"] = connector.name();
  event["destination"] = destinationOf(attempt.action);
  event["slots"] = json::array();
  for (const auto& s : attempt.slots) event["slots"].push_back({{"slot", s.name}, {"resource_ref", s.resourceRef}});
  event["resource_refs"] = claims.res;
  auto spent = presentation_.spendOneUse(request, claims, event);
  if (auto* err = std::get_if<HttpError>(&spent)) return *err;
  event["remaining_uses"] = std::get<std::uint32_t>(spent);

  // From here on the use is spent: every outcome is audited before the answer.
  // ---- 3. fetch into slots; refuse what cannot be kept out of outputs; make the
  //         rest live in this request's egress scope ----
  if (auto failure = fetchSlots(request, attempt)) return finish(request, attempt, std::move(failure), nullptr);
  if (auto failure = checkUsable(attempt)) return finish(request, attempt, std::move(failure), nullptr);
  if (auto failure = makeLive(attempt, *scope)) return finish(request, attempt, std::move(failure), nullptr);
  // ---- 4. and 5. ----
  return runAndScrub(request, attempt, scope->guard());
}

std::variant<Connector*, HttpError> ExecuteApi::connectorFor(const json& b) {
  if (!b["grant"].is_string() || !b["slots"].is_object() || !b["action"].is_object()) {
    return HttpError{ErrorCode::InvalidRequest,
                     "grant is a string, slots an object of name -> secret URI, action an object"};
  }
  if (b["slots"].empty() || b["slots"].size() > kMaxSlots) {
    return HttpError{ErrorCode::InvalidRequest, "between 1 and 16 slots"};
  }
  const json& action = b["action"];
  if (!action.contains("connector") || !action["connector"].is_string()) {
    return HttpError{connector_errc::kInvalidAction, "the action needs 'connector'"};
  }
  auto found = connectors_.find(action["connector"].get<std::string>());
  if (found == connectors_.end()) {
    return HttpError{ErrorCode::ConnectorUnknown, "connectors: rest, postgres, ldap, ssh, hmac, sign"};
  }
  return found->second.get();
}

// Refusals before the attempt spend nothing and are not audited, but they are
// logged and counted: a caller probing destinations or resources shows up.
HttpError ExecuteApi::refuse(const Request& request, const Connector& connector, ErrorCode code,
                             const std::string& message) {
  metrics_.add("sealgate_execute_refused_total", "execute requests refused before the attempt",
               {{"connector", connector.name()}, {"code", errorCodeName(code)}});
  logEvent(LogLevel::Warn, "execute_refused",
           {{"correlation_id", request.correlationId},
            {"caller", request.identity.spiffeId},
            {"connector", connector.name()},
            {"code", code}});
  return HttpError{code, message};
}

std::variant<std::vector<ExecuteApi::Slot>, HttpError> ExecuteApi::resolveSlots(const Request& request,
                                                                                const GrantClaims& claims,
                                                                                const Connector& connector) {
  std::vector<Slot> slots;
  for (const auto& [name, value] : request.body["slots"].items()) {
    if (!isSlotName(name)) return HttpError{ErrorCode::InvalidRequest, "slot names are 1-64 of [A-Za-z0-9_-]"};
    if (!value.is_string()) return HttpError{ErrorCode::InvalidRequest, "each slot is a secret URI string"};
    auto uri = SecretUri::parse(value.get<std::string>());
    if (!uri) return HttpError{uri.error().code, "slot " + name + ": " + uri.error().message};
    if (auto guard = uri->checkTenant(request.identity.tenant); !guard) {
      return HttpError{guard.error().code, "slot " + name + ": " + guard.error().message};
    }
    // Under the key version the grant's refs name: a grant issued before a key
    // rotation keeps working until that version is retired.
    auto ref = refs_.ofGranted(uri->canonical(), claims.res);
    if (!ref && ref.error().code == ErrorCode::KeyRetired) {
      return refuse(request, connector, ErrorCode::KeyRetired,
                    "the grant names resource_refs under a retired key version; ask for a new grant");
    }
    if (!ref) {
      logEvent(LogLevel::Error, "hsm_failure",
               {{"correlation_id", request.correlationId}, {"error", ref.error().describe()}});
      return HttpError{ErrorCode::HsmUnavailable, "the HSM could not compute the resource_ref"};
    }
    // Exact canonical URI, field and version included: the grant's res.
    if (std::find(claims.res.begin(), claims.res.end(), *ref) == claims.res.end()) {
      return refuse(request, connector, ErrorCode::SlotNotCovered,
                    "slot " + name + " (" + *ref + ") is not a resource of the grant");
    }
    // Executing is using: the grant must allow `use` on this resource (a grant
    // for another action, `inspect` say, is no grant to use it).
    const json* obligations = claims.allowed(*ref, kUseAction);
    if (!obligations) {
      return refuse(request, connector, grant_errc::kActionNotGranted,
                    "slot " + name + ": the grant does not allow 'use' on it");
    }
    // The use's obligations name the connectors that may use it; without the
    // obligation, not hmac or sign (a MAC or signature keyed by any granted
    // secret, a password say, would let the caller test guesses offline).
    if (!connectorAllowed(*obligations, connector.name())) {
      return refuse(
          request, connector, ErrorCode::ConnectorNotAllowed,
          "slot " + name + ": the policy does not let the " + connector.name() + " connector use this secret");
    }
    slots.push_back(Slot{name, std::move(*uri), std::move(*ref)});
  }
  return slots;
}

// Where the placeholders sit and the tenant's egress allow-list (the connector's
// validate()), and every declared slot used by the action, every used one declared.
std::variant<ConnectorContext, HttpError> ExecuteApi::checkAction(const Request& request,
                                                                  const std::vector<Slot>& slots,
                                                                  Connector& connector) {
  ConnectorContext context;
  context.tenant = request.identity.tenant;
  context.rules = egress_(context.tenant, connector.name());
  context.timeout = settings_.timeout;
  context.maxResponseBytes = settings_.maxResponseBytes;
  context.caFile = settings_.caFile;
  for (const auto& s : slots) {  // login names come only from #username slots (connector.h)
    if (s.uri.field() == "username") context.usernameSlots.insert(s.name);
  }
  auto referenced = connector.validate(request.body["action"], context);
  if (!referenced) return refuse(request, connector, referenced.error().code, referenced.error().message);
  for (const auto& name : *referenced) {
    if (!request.body["slots"].contains(name)) {
      return HttpError{ErrorCode::SlotUnknown, "a placeholder names a slot the request does not declare: " + name};
    }
  }
  for (const auto& s : slots) {
    if (!referenced->count(s.name)) {
      return HttpError{ErrorCode::SlotUnused,
                       "slot " + s.name + " is not used by the action (nothing is fetched idly)"};
    }
  }
  return context;
}

std::optional<Error> ExecuteApi::fetchSlots(const Request& request, Attempt& attempt) {
  attempt.values.reserve(attempt.slots.size());
  const FetchContext fetchContext{request.correlationId};  // #username and #password share one lease
  for (std::size_t i = 0; i < attempt.slots.size(); ++i) {
    auto fetched = secrets_.fetch(attempt.slots[i].uri, std::nullopt, fetchContext);
    if (!fetched) {
      attempt.event["failed_slot"] = attempt.slots[i].name;
      // A provider's own failure (a tampered KV store, a database error) is
      // answered as the provider being unavailable; the cause goes to the log.
      Error failure = std::move(fetched).takeError();
      if (const ErrorCode answered = providerFailureCode(failure.code); answered != failure.code) {
        logEvent(LogLevel::Error, "provider_failure",
                 {{"correlation_id", request.correlationId}, {"error", failure.describe()}});
        failure.code = answered;
      }
      return failure;
    }
    json& slotEvent = attempt.event["slots"][i];
    if (fetched->metadata.kvVersion) slotEvent["kv_version"] = *fetched->metadata.kvVersion;
    if (fetched->metadata.leaseId) slotEvent["lease_id"] = *fetched->metadata.leaseId;
    attempt.values.push_back(std::move(*fetched));
  }
  return std::nullopt;
}

// Each value, and each leaf of a JSON document, must be one the guard can keep
// out of outputs (core/slot_values.h); all of them together within the budget.
std::optional<Error> ExecuteApi::checkUsable(Attempt& attempt) {
  attempt.leaves.resize(attempt.slots.size());
  std::size_t totalBytes = 0;
  for (std::size_t i = 0; i < attempt.slots.size(); ++i) {
    const Secret& value = attempt.values[i].value;
    if (auto problem = slotValueShapeProblem(value.exposeSecretBytes())) {
      return attempt.unusable(i, unusableReason(*problem), *problem);
    }
    auto documentLeaves = jsonLeafValues(value);
    if (!documentLeaves && documentLeaves.error().code == connector_errc::kSecretUnusable) {
      // The reason is in `operation`: too_many_leaves or document_unwalkable.
      return attempt.unusable(i, documentLeaves.error().operation, "has " + documentLeaves.error().message);
    }
    if (!documentLeaves) {
      attempt.event["failed_slot"] = attempt.slots[i].name;
      return documentLeaves.error();
    }
    totalBytes += value.size();
    if (*documentLeaves) attempt.leaves[i] = std::move(**documentLeaves);
    for (const auto& leaf : attempt.leaves[i]) {
      if (auto problem = slotValueShapeProblem(leaf.exposeSecretBytes())) {
        return attempt.unusable(i, unusableReason(*problem), "holds a JSON document with a leaf that " + *problem);
      }
      totalBytes += leaf.size();
    }
    if (totalBytes > kMaxRequestSlotBytes) {
      return attempt.unusable(i, "too_large",
                              "brings the request's slot values (JSON leaves included) over " +
                                  std::to_string(kMaxRequestSlotBytes) + " bytes: too large to keep out of outputs");
    }
  }
  return std::nullopt;
}

// Live before anything could print them, in this request's scope only, until the
// HTTP server has written the answer and its log line (one automaton, of this
// request's values alone). A value the guard finds in sealgate's own words or in
// this request's audit event would shred or block them (an audit event that
// carries a value is never written): refused, and never live.
std::optional<Error> ExecuteApi::makeLive(Attempt& attempt, EgressScope& scope) {
  std::vector<const Secret*> pointers;
  for (std::size_t i = 0; i < attempt.slots.size(); ++i) {
    for (const Secret* p : attempt.valuesOf(i)) pointers.push_back(p);
  }
  EgressGuard& guard = scope.guard();
  auto live = guard.protectAll(pointers);
  const std::string eventSoFar = attempt.event.dump();
  if (!guard.carries(vocabulary_) && !guard.carries(eventSoFar)) {
    scope.keep(std::move(live));
    return std::nullopt;
  }
  live.release();
  for (std::size_t i = 0; i < attempt.slots.size(); ++i) {
    EgressGuard one;
    auto probe = one.protectAll(attempt.valuesOf(i));
    if (one.carries(vocabulary_) || one.carries(eventSoFar)) {
      probe.release();
      return attempt.unusable(i, "too_common",
                              "is found in sealgate's own protocol vocabulary or in this request's audit event: too "
                              "common to keep out of outputs");
    }
  }
  // Only several values together (none alone): refuse the first slot.
  return attempt.unusable(0, "too_common", "with the other slots, is found in sealgate's own protocol vocabulary");
}

HandlerResult ExecuteApi::runAndScrub(const Request& request, Attempt& attempt, EgressGuard& guard) {
  // ---- 4. the action; the slots are wiped as soon as it returns ----
  SlotValues slotValues;
  for (std::size_t i = 0; i < attempt.slots.size(); ++i) slotValues[attempt.slots[i].name] = &attempt.values[i].value;
  auto outcome = attempt.connector.run(attempt.action, attempt.context, slotValues);
  slotValues.clear();
  attempt.values.clear();  // Secret destructors wipe the values; the guard still knows them
  attempt.leaves.clear();
  if (!outcome) return finish(request, attempt, outcome.error(), nullptr);

  // ---- 5. scrub, and block what would still carry a value ----
  std::size_t redactions = 0;
  json result = guard.scrubJson(std::move(*outcome), &redactions);
  json& event = attempt.event;
  event["redactions"] = redactions;
  if (result.is_object() && result.contains("status") && result["status"].is_number())
    event["peer_status"] = result["status"];
  if (result.is_object() && result.contains("exit_status")) event["exit_status"] = result["exit_status"];
  if (auto clean = guard.check(result.dump()); !clean) {
    countEgressBlock(EgressBlocked::ConnectorOutput);
    return finish(
        request, attempt,
        makeError(ErrorCode::EgressBlocked, "the connector's output still carried a slot value and was withheld"),
        nullptr);
  }
  return finish(request, attempt, std::nullopt, std::move(result));
}

HandlerResult ExecuteApi::finish(const Request& request, Attempt& attempt, std::optional<Error> failure, json result) {
  const std::string outcome = failure ? errorCodeName(failure->code) : "ok";
  json& event = attempt.event;
  event["outcome"] = outcome;
  event["decision"] = "allow";
  event["duration_ms"] = millisecondsSince(attempt.started);
  const std::string connector = attempt.connector.name();
  metrics_.add("sealgate_execute_total", "execute requests that spent a use, by connector and outcome",
               {{"connector", connector}, {"outcome", outcome}});
  metrics_.observe("sealgate_execute_duration_seconds", "time from request to answer of spent executes",
                   {{"connector", connector}},
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - attempt.started).count());
  auto logged = audit_.append(event.dump());
  if (!logged) {
    logEvent(LogLevel::Error, "audit_failure",
             {{"correlation_id", request.correlationId}, {"error", logged.error().describe()}});
    return HttpError{ErrorCode::AuditUnavailable,
                     "the action was attempted but cannot be recorded: its result is withheld and the use is spent"};
  }
  if (failure) {
    HttpError err{failure->code, failure->message};
    err.headers["X-Sealgate-Audit-Id"] = std::to_string(*logged);
    return err;
  }
  return Response{200, json{{"status", "ok"},
                            {"result", std::move(result)},
                            {"audit_id", std::to_string(*logged)},
                            {"remaining_uses", event["remaining_uses"]}}};
}

}  // namespace sealgate::appliance
