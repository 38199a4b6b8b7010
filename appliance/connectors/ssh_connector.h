// The "ssh" connector: runs one allow-listed command on a host whose key is
// pinned in the tenant's egress policy (never by the caller), logging in with a
// password or private key from a slot (docs/CONNECTORS.md, "ssh"). libssh, one
// session per action.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "core/encoding.h"
#include "core/interfaces/connector.h"

namespace sealgate::connectors {

// A host-key pin, "SHA256:" + 43 characters of unpadded standard base64 (as
// ssh-keygen -lf prints it): its 32 bytes, or nullopt when malformed. The
// policy parser checks pins with it too.
std::optional<Bytes> decodeHostKeyPin(const std::string& pin);

class SshConnector final : public Connector {
 public:
  SshConnector() = default;
  std::string name() const override { return "ssh"; }
  Result<std::set<std::string>> validate(const nlohmann::json& action, const ConnectorContext& context) const override;
  Result<nlohmann::json> run(const nlohmann::json& action, const ConnectorContext& context,
                             const SlotValues& slots) override;
};

}  // namespace sealgate::connectors
