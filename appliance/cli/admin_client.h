// AdminClient: the operator CLI's HTTPS client for the admin listener (Poco,
// mTLS): the operator's certificate and key, and the server verified against
// --ca only (no system CAs), its name against the URL's host.
#pragma once

#include <Poco/Net/Context.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/result.h"

namespace sealgate::appliance {

struct AdminTls {
  std::string url;       // https://host:port of the admin listener
  std::string certFile;  // the operator's client certificate (PEM)
  std::string keyFile;   // its private key (PEM)
  std::string caFile;    // the CA bundle the server's certificate must chain to
};

class AdminClient {
 public:
  // ADMIN_CLIENT: a URL that is not https://host[:port] with no path, query or
  // fragment; unreadable certificate, key or CA files.
  static Result<AdminClient> create(const AdminTls& tls);

  // A 2xx answer's JSON body. Any other status is the API's error, with its
  // code (API.md's table: EK_UNTRUSTED, APPROVAL_SELF, ...) and message, the
  // HTTP status and correlation id in the message. A server that cannot be
  // reached or verified, or an answer that is not JSON: ADMIN_CLIENT.
  Result<nlohmann::json> get(const std::string& path) const;
  // The same, with one non-2xx status whose JSON body is an answer too (GET
  // /readyz's 503 says what is not ready).
  Result<nlohmann::json> getAccepting(const std::string& path, int status) const;
  Result<nlohmann::json> post(const std::string& path, const nlohmann::json& body) const;
  Result<nlohmann::json> del(const std::string& path) const;

  // The error of a non-2xx answer (exposed for the tests): the API's code when
  // the body names one, else ADMIN_CLIENT.
  static Error answerError(int status, const std::string& body);

 private:
  AdminClient() = default;
  Result<nlohmann::json> exchange(const std::string& method, const std::string& path, const std::string* body,
                                  int alsoAccepted = 0) const;

  std::string host_;
  unsigned short port_ = 0;
  Poco::Net::Context::Ptr context_;
};

}  // namespace sealgate::appliance
