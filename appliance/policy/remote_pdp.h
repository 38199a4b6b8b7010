// External policy decision points over mTLS: the OPA Data API and the OpenID
// AuthZEN batch evaluations API (docs/STANDARDS.md). One HTTP call per authorize batch.
// Down, late or non-200 → the Error PDP_UNAVAILABLE (the whole batch fails closed);
// an answer of the wrong shape, an undefined result or a missing item → deny.
#pragma once

#include <Poco/Net/Context.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "core/interfaces/decision_point.h"
#include "core/result.h"

namespace sealgate::appliance {

struct RemotePdpSettings {
  std::string type;      // "opa" or "authzen"
  std::string url;       // https://host:port/v1/data/<path> (OPA) or https://host:port (AuthZEN)
  std::string caFile;    // CA that the PDP's server certificate must chain to
  std::string certFile;  // sealgate's client certificate for the PDP
  std::string keyFile;   // its private key (PEM, 0600)
  std::chrono::milliseconds timeout{2000};
};

class RemoteDecisionPoint : public DecisionPoint {
 public:
  static Result<std::unique_ptr<RemoteDecisionPoint>> create(const RemotePdpSettings& settings);
  Result<std::vector<Decision>> decide(const DecisionSubject& subject, const std::vector<DecisionRequest>& requests,
                                       std::chrono::milliseconds timeout) override;

  // The wire formats, exposed for tests.
  static nlohmann::json opaInput(const DecisionSubject& subject, const std::vector<DecisionRequest>& requests);
  static std::vector<Decision> opaDecisions(const nlohmann::json& response,
                                            const std::vector<DecisionRequest>& requests);
  static nlohmann::json authzenRequest(const DecisionSubject& subject, const std::vector<DecisionRequest>& requests);
  static std::vector<Decision> authzenDecisions(const nlohmann::json& response,
                                                const std::vector<DecisionRequest>& requests);

 private:
  RemoteDecisionPoint() = default;
  Result<nlohmann::json> post(const std::string& path, const nlohmann::json& body, std::chrono::milliseconds timeout);
  RemotePdpSettings settings_;
  std::string scheme_, host_, basePath_;
  std::uint16_t port_ = 0;
  Poco::Net::Context::Ptr context_;
};

}  // namespace sealgate::appliance
