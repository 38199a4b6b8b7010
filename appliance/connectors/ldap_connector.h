// The "ldap" connector: a simple bind with a password from a slot, then one
// search (docs/CONNECTORS.md, "ldap"). libldap (OpenLDAP), one connection per
// action, TLS verified against the appliance's CA bundle.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/interfaces/connector.h"

namespace sealgate::connectors {

class LdapConnector final : public Connector {
 public:
  LdapConnector() = default;
  std::string name() const override { return "ldap"; }
  Result<std::set<std::string>> validate(const nlohmann::json& action, const ConnectorContext& context) const override;
  Result<nlohmann::json> run(const nlohmann::json& action, const ConnectorContext& context,
                             const SlotValues& slots) override;
};

}  // namespace sealgate::connectors
