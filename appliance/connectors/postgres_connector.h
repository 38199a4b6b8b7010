// The `postgres` connector: connects to PostgreSQL with a password (or a dynamic
// credential's user name and password) from slots, runs one parameterized query
// and returns its rows (docs/CONNECTORS.md). Slots go in `user`, `password` and
// `params` only: never in the SQL text, so a value can never become SQL.
#pragma once

#include "core/interfaces/connector.h"

namespace sealgate::connectors {

class PostgresConnector : public Connector {
 public:
  std::string name() const override { return "postgres"; }
  Result<std::set<std::string>> validate(const nlohmann::json& action, const ConnectorContext& context) const override;
  Result<nlohmann::json> run(const nlohmann::json& action, const ConnectorContext& context,
                             const SlotValues& slots) override;
};

}  // namespace sealgate::connectors
