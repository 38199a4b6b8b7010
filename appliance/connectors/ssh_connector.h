// The "ssh" connector: runs one allow-listed command on a host whose key is
// pinned in the action, logging in with a password or private key from a slot
// (docs/CONNECTORS.md, "ssh"). libssh, one session per action.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/interfaces/connector.h"

namespace sealgate::connectors {

class SshConnector final : public Connector {
 public:
  SshConnector() = default;
  std::string name() const override { return "ssh"; }
  Result<std::set<std::string>> validate(const nlohmann::json& action, const ConnectorContext& context) const override;
  Result<nlohmann::json> run(const nlohmann::json& action, const ConnectorContext& context,
                             const SlotValues& slots) override;
};

}  // namespace sealgate::connectors
