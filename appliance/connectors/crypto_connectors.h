// Cryptographic actions with a secret as the key (docs/CONNECTORS.md): `hmac`
// (HMAC-SHA-256/384/512) and `sign` (ES256, ES384, EdDSA, RS256, PS256 with a
// PEM private key from a slot). The key never leaves protected memory except
// into OpenSSL, which clears private key material when it frees it.
#pragma once

#include "core/interfaces/connector.h"

namespace sealgate::connectors {

class HmacConnector : public Connector {
 public:
  std::string name() const override { return "hmac"; }
  Result<std::set<std::string>> validate(const nlohmann::json& action, const ConnectorContext& context) const override;
  Result<nlohmann::json> run(const nlohmann::json& action, const ConnectorContext& context,
                             const SlotValues& slots) override;
};

class SignConnector : public Connector {
 public:
  std::string name() const override { return "sign"; }
  Result<std::set<std::string>> validate(const nlohmann::json& action, const ConnectorContext& context) const override;
  Result<nlohmann::json> run(const nlohmann::json& action, const ConnectorContext& context,
                             const SlotValues& slots) override;
};

}  // namespace sealgate::connectors
