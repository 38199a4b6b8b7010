// The `rest` connector: one HTTPS request with slots in headers, the query or
// the body (docs/CONNECTORS.md). HTTPS only, the peer's certificate verified
// against the configured CA bundle and its name, the host on the tenant's
// allow-list, the whole exchange bounded in time and the answer in size.
#pragma once

#include "core/interfaces/connector.h"

namespace sealgate::connectors {

class RestConnector : public Connector {
 public:
  std::string name() const override { return "rest"; }
  Result<std::set<std::string>> validate(const nlohmann::json& action, const ConnectorContext& context) const override;
  Result<nlohmann::json> run(const nlohmann::json& action, const ConnectorContext& context,
                             const SlotValues& slots) override;
};

}  // namespace sealgate::connectors
