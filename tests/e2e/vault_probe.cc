// Test tool: one fetch through providers::VaultKvClient, for the e2e tests that
// point it at sealgate's own Vault-compatible endpoint and at a contract stub of
// Vault (tests/e2e/test_vault_client.py). Prints one JSON line:
//   {"ok":true,"value":"...","kv_version":N,"requests":N} or {"ok":false,"code":"...","requests":N}
// It prints the value because the tests compare it; it is a test tool only.
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "providers/vault_client.h"

int main(int argc, char** argv) {
  sealgate::providers::VaultClientSettings s;
  std::string uri;
  std::optional<std::uint32_t> version;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--address")
      s.address = v;
    else if (k == "--ca")
      s.caFile = v;
    else if (k == "--cert")
      s.certFile = v;
    else if (k == "--key")
      s.keyFile = v;
    else if (k == "--token-file")
      s.tokenFile = v;
    else if (k == "--role-id")
      s.roleId = v;
    else if (k == "--secret-id-file")
      s.secretIdFile = v;
    else if (k == "--namespace")
      s.nameSpace = v;
    else if (k == "--mount")
      s.mounts[v.substr(0, v.find('='))] = v.substr(v.find('=') + 1);
    else if (k == "--uri")
      uri = v;
    else if (k == "--version")
      version = static_cast<std::uint32_t>(std::stoul(v));
    else if (k == "--attempts")
      s.maxAttempts = static_cast<unsigned>(std::stoul(v));
    else if (k == "--backoff-ms")
      s.backoff = std::chrono::milliseconds(std::stoul(v));
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  auto client = sealgate::providers::VaultKvClient::create(s);
  if (!client) {
    std::cout << nlohmann::json{{"ok", false}, {"code", client.error().code}, {"requests", 0}}.dump() << "\n";
    return 0;
  }
  auto parsed = sealgate::SecretUri::parse(uri);
  if (!parsed) {
    std::cerr << "bad --uri\n";
    return 2;
  }
  auto r = (*client)->fetch(*parsed, version, {});
  nlohmann::json out = {{"requests", (*client)->requestCount()}};
  if (r) {
    auto b = r->value.exposeSecretBytes();
    out["ok"] = true;
    out["value"] = std::string(b.begin(), b.end());
    if (r->metadata.kvVersion) out["kv_version"] = *r->metadata.kvVersion;
  } else {
    out["ok"] = false;
    out["code"] = r.error().code;
  }
  std::cout << out.dump() << "\n";
  return 0;
}
