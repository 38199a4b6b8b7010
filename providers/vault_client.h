// A SecretProvider for sites that keep their secrets in OpenBao or Vault: a KV v2
// client over HTTPS (Poco), with
//   - token or AppRole auth (a 403 with AppRole logs in again, once),
//   - the X-Vault-Namespace header,
//   - TLS pinned to one CA bundle (the system's CAs are not trusted), optionally
//     with a client certificate (mTLS, as sealgate's own endpoint wants),
//   - retries with exponential backoff on connection failures, 429 and 5xx,
//   - Vault's 404-with-metadata for deleted and destroyed versions.
// Tested against sealgate's own Vault-compatible endpoint and against a contract
// stub that reproduces Vault's documented responses (tests/e2e/test_vault_client.py).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/interfaces/secret_provider.h"

namespace sealgate::providers {

struct VaultClientSettings {
  std::string address;   // https://host:port
  std::string caFile;    // the only CA bundle trusted for the server
  std::string certFile;  // optional client certificate (mTLS)
  std::string keyFile;
  std::string tokenFile;  // token auth: a file holding the token
  std::string appRoleMount = "approle";
  std::string roleId;                         // AppRole auth: role_id
  std::string secretIdFile;                   // and a file holding the secret_id
  std::string nameSpace;                      // X-Vault-Namespace; empty: none
  std::map<std::string, std::string> mounts;  // sealgate "<tenant>/<mount>" -> Vault KV v2 mount path
  unsigned maxAttempts = 3;
  std::chrono::milliseconds backoff{100};  // first retry delay; doubles each time
  std::chrono::milliseconds timeout{5000};
};

class VaultKvClient : public SecretProvider {
 public:
  // Checks the settings (https only, a CA, exactly one auth method); reads no secret yet.
  static Result<std::unique_ptr<VaultKvClient>> create(const VaultClientSettings& settings);
  ~VaultKvClient() override;

  Result<FetchedSecret> fetch(const SecretUri& uri, std::optional<std::uint32_t> version,
                              const FetchContext& context) override;
  using SecretProvider::fetch;
  bool healthy() const override { return true; }

  // Requests made, including retries and logins (for tests and metrics).
  unsigned requestCount() const;

 private:
  struct Reply {
    int status = 0;
    std::string body;
  };
  explicit VaultKvClient(VaultClientSettings s);
  Result<Reply> send(const std::string& method, const std::string& path, const std::string& body, bool withToken);
  Result<Reply> sendWithRetries(const std::string& method, const std::string& path, const std::string& body,
                                bool withToken);
  Result<void> login();
  Result<void> loadToken();

  VaultClientSettings settings_;
  std::string host_;
  std::uint16_t port_ = 0;
  mutable std::mutex mu_;
  Secret token_;
  unsigned requests_ = 0;
  struct Tls;
  std::unique_ptr<Tls> tls_;
};

}  // namespace sealgate::providers
