#include "appliance/policy/remote_pdp.h"
#include "core/json_parse.h"

#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/URI.h>

#include <algorithm>
#include <sstream>

namespace sealgate::appliance {

using nlohmann::json;

namespace {

Error unavailable(const std::string& why) { return makeError(ErrorCode::PdpUnavailable, why); }

Decision denyAll(std::size_t index, const std::string& reason) {
  Decision d;
  d.index = index;
  d.reason = reason;
  return d;
}

json contextOf(const DecisionRequest& r) {
  json c = parseInternalJson(r.contextJson);
  return c.is_object() ? c : json::object();
}

// The first item of OPA's decisions that answers request `index`, or null.
const json* opaItemFor(const json& decisions, std::size_t index) {
  for (const auto& item : decisions) {
    if (item.is_object() && item.contains("index") && item["index"].is_number_unsigned() &&
        item["index"].get<std::size_t>() == index) {
      return &item;
    }
  }
  return nullptr;
}

// An OPA decision item read into `d`: allow (with its obligations), a deny with
// its reason, or PDP_BAD_RESULT when "allow" is not a boolean.
void applyOpaItem(const json& item, Decision& d) {
  if (!item.contains("allow") || !item["allow"].is_boolean()) {
    d.reason = "PDP_BAD_RESULT";
  } else if (item["allow"].get<bool>()) {
    d.allow = true;
    d.reason = "opa";
    if (item.contains("obligations") && item["obligations"].is_object()) {
      d.obligationsJson = item["obligations"].dump();
      const json& o = item["obligations"];
      d.cacheable = o.contains("cacheable") && o["cacheable"].is_boolean() && o["cacheable"].get<bool>();
    }
  } else {
    d.reason =
        item.contains("reason") && item["reason"].is_string() ? item["reason"].get<std::string>() : "POLICY_DENIED";
  }
}

}  // namespace

Result<std::unique_ptr<RemoteDecisionPoint>> RemoteDecisionPoint::create(const RemotePdpSettings& settings) {
  if (settings.type != "opa" && settings.type != "authzen")
    return makeError(ErrorCode::ConfigInvalid, "pdp.type must be embedded, opa or authzen");
  std::unique_ptr<RemoteDecisionPoint> pdp(new RemoteDecisionPoint());
  pdp->settings_ = settings;
  try {
    Poco::URI uri(settings.url);
    if (uri.getScheme() != "https")
      return makeError(ErrorCode::ConfigInvalid, "pdp.url must be https (the PDP is reached over mTLS)");
    pdp->host_ = uri.getHost();
    pdp->port_ = uri.getPort();
    pdp->basePath_ = uri.getPath();
    Poco::Net::Context::Params p;
    p.caLocation = settings.caFile;
    p.certificateFile = settings.certFile;
    p.privateKeyFile = settings.keyFile;
    p.verificationMode = Poco::Net::Context::VERIFY_STRICT;
    p.loadDefaultCAs = false;
    p.cipherList = "ECDHE+AESGCM:ECDHE+CHACHA20";
    pdp->context_ = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, p);
    pdp->context_->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
  } catch (const Poco::Exception& e) {
    return makeError(ErrorCode::ConfigInvalid, "cannot set up the PDP client: " + e.displayText());
  }
  return pdp;
}

Result<json> RemoteDecisionPoint::post(const std::string& path, const json& body, std::chrono::milliseconds timeout) {
  try {
    Poco::Net::HTTPSClientSession session(host_, port_, context_);
    const Poco::Timespan t(std::chrono::duration_cast<std::chrono::microseconds>(timeout).count());
    session.setTimeout(t, t, t);
    Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, path, Poco::Net::HTTPMessage::HTTP_1_1);
    const std::string payload = body.dump();
    req.setContentType("application/json");
    req.setContentLength64(static_cast<std::int64_t>(payload.size()));
    const auto started = std::chrono::steady_clock::now();
    session.sendRequest(req) << payload;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session.receiveResponse(resp);
    std::ostringstream text;
    text << in.rdbuf();
    // Each socket operation had its own timeout: bound the whole exchange too.
    if (std::chrono::steady_clock::now() - started > timeout) return unavailable("the PDP answered too late");
    if (resp.getStatus() != Poco::Net::HTTPResponse::HTTP_OK) {
      return unavailable("the PDP answered HTTP " + std::to_string(static_cast<int>(resp.getStatus())));
    }
    // Not JSON, too deep or with a repeated key: treated as an answer of the wrong shape.
    auto out = parseJson(text.str());
    if (!out) return json::object();
    return std::move(*out);
  } catch (const Poco::TimeoutException&) {
    return unavailable("the PDP did not answer within " + std::to_string(timeout.count()) + " ms");
  } catch (const Poco::Exception& e) {
    return unavailable("the PDP cannot be reached: " + e.displayText());
  }
}

json RemoteDecisionPoint::opaInput(const DecisionSubject& subject, const std::vector<DecisionRequest>& requests) {
  json items = json::array();
  for (const auto& r : requests) {
    items.push_back({{"index", r.index}, {"uri", r.canonicalUri}, {"action", r.action}, {"context", contextOf(r)}});
  }
  return json{
      {"input",
       {{"subject", {{"spiffe_id", subject.spiffeId}, {"tenant", subject.tenant}, {"service", subject.service}}},
        {"requests", items}}}};
}

std::vector<Decision> RemoteDecisionPoint::opaDecisions(const json& response,
                                                        const std::vector<DecisionRequest>& requests) {
  std::vector<Decision> out;
  // 200 without "result" is OPA's undefined decision: deny (docs/STANDARDS.md, "OPA Data API").
  const bool defined = response.is_object() && response.contains("result");
  const json* decisions = nullptr;
  if (defined && response["result"].is_object() && response["result"].contains("decisions") &&
      response["result"]["decisions"].is_array()) {
    decisions = &response["result"]["decisions"];
  }
  std::optional<std::string> externalId;
  if (response.is_object() && response.contains("decision_id") && response["decision_id"].is_string()) {
    externalId = response["decision_id"].get<std::string>();
  }
  for (const auto& r : requests) {
    Decision d = denyAll(r.index, !defined               ? "PDP_UNDEFINED"
                                  : decisions == nullptr ? "PDP_BAD_RESULT"
                                                         : "PDP_NO_DECISION");
    d.externalDecisionId = externalId;
    if (decisions != nullptr) {
      if (const json* item = opaItemFor(*decisions, r.index)) applyOpaItem(*item, d);
    }
    out.push_back(std::move(d));
  }
  return out;
}

json RemoteDecisionPoint::authzenRequest(const DecisionSubject& subject, const std::vector<DecisionRequest>& requests) {
  json evaluations = json::array();
  for (const auto& r : requests) {
    evaluations.push_back({{"action", {{"name", r.action}}},
                           {"resource", {{"type", "secret"}, {"id", r.canonicalUri}}},
                           {"context", contextOf(r)}});
  }
  return json{{"subject",
               {{"type", "spiffe"},
                {"id", subject.spiffeId},
                {"properties", {{"tenant", subject.tenant}, {"service", subject.service}}}}},
              {"evaluations", evaluations},
              {"options", {{"evaluations_semantic", "execute_all"}}}};
}

std::vector<Decision> RemoteDecisionPoint::authzenDecisions(const json& response,
                                                            const std::vector<DecisionRequest>& requests) {
  std::vector<Decision> out;
  const json* evaluations =
      response.is_object() && response.contains("evaluations") && response["evaluations"].is_array()
          ? &response["evaluations"]
          : nullptr;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    // Answers come in request order; short-circuit semantics may return fewer: deny.
    Decision d = denyAll(requests[i].index, evaluations == nullptr ? "PDP_BAD_RESULT" : "PDP_NO_DECISION");
    if (evaluations != nullptr && i < evaluations->size()) {
      const json& e = (*evaluations)[i];
      if (!e.is_object() || !e.contains("decision") || !e["decision"].is_boolean()) {
        d.reason = "PDP_BAD_RESULT";
      } else if (e["decision"].get<bool>()) {
        d.allow = true;
        d.reason = "authzen";
        if (e.contains("context") && e["context"].is_object() && e["context"].contains("obligations") &&
            e["context"]["obligations"].is_object()) {
          const json& o = e["context"]["obligations"];
          d.obligationsJson = o.dump();
          d.cacheable = o.contains("cacheable") && o["cacheable"].is_boolean() && o["cacheable"].get<bool>();
        }
      } else {
        d.reason = "POLICY_DENIED";
        if (e.contains("context") && e["context"].is_object() && e["context"].contains("reason") &&
            e["context"]["reason"].is_string()) {
          d.reason = e["context"]["reason"];
        }
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::vector<Decision>> RemoteDecisionPoint::decide(const DecisionSubject& subject,
                                                          const std::vector<DecisionRequest>& requests,
                                                          std::chrono::milliseconds deadline) {
  // The tighter of the caller's deadline and pdp.timeout.
  const auto timeout = std::min(deadline, settings_.timeout);
  if (settings_.type == "opa") {
    SEALGATE_ASSIGN_OR_RETURN(auto response, post(basePath_, opaInput(subject, requests), timeout));
    return opaDecisions(response, requests);
  }
  std::string base = basePath_;
  while (!base.empty() && base.back() == '/') base.pop_back();
  SEALGATE_ASSIGN_OR_RETURN(auto response,
                            post(base + "/access/v1/evaluations", authzenRequest(subject, requests), timeout));
  return authzenDecisions(response, requests);
}

}  // namespace sealgate::appliance
