// The HTTPS listeners: Poco's HTTP server over mTLS, with the TLS key in the HSM,
// a route table, the API.md error model, a body size limit, a whole-request
// deadline and a connection cap.
#pragma once

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/ThreadPool.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "appliance/config.h"
#include "appliance/identity.h"
#include "core/result.h"

namespace sealgate::appliance {

// An error answer in API.md's shape.
struct HttpError {
  int status;
  std::string code;
  std::string message;
  std::map<std::string, std::string> headers{};  // e.g. WWW-Authenticate on DPoP failures
};

struct Request {
  std::string correlationId;
  std::string method;
  std::string path;
  Identity identity;
  nlohmann::json body;  // the parsed JSON object for routes that take one
  std::string host;     // the Host header
  std::vector<std::string> dpop;  // every DPoP header value (RFC 9449 wants exactly one)
  std::string query;    // the raw query string, without '?'
  std::string pathParam;  // the "{id}" segment of routes that end in one, or what "/**" matched
  std::map<std::string, std::string> headers;  // lowercased names, first value of each
  bool vaultErrors = false;  // set for Vault-compatible routes: errors render as {"errors":[...]}
};

struct Response {
  Response() = default;
  Response(int s, nlohmann::json b) : status(s), body(std::move(b)) {}
  int status = 200;
  nlohmann::json body = nlohmann::json::object();
  std::map<std::string, std::string> headers;
  std::string contentType = "application/json";
  std::string rawBody;  // used instead of `body` when non-empty
};

// The outcome of a handler: a response, or an error rendered in API.md's shape.
using HandlerResult = std::variant<Response, HttpError>;
using Handler = std::function<HandlerResult(Request&)>;

enum class Access {
  AnyClient,  // any verified client certificate (health probes)
  Service,    // spiffe://<tenant>/<service>
  Admin,      // spiffe://sealgate-admin/<role>/<name>, roles listed in Route::roles
};

struct Route {
  std::string method;
  std::string path;  // exact, or ending in "/{id}" (one id segment) or "/**" (any rest, even empty)
  Access access = Access::Service;
  std::set<std::string> roles;  // for Access::Admin; empty = any admin-side role
  bool takesJsonBody = false;
  Handler handler;
  // Vault-compatible (KV v2, sys/leases): tolerate what Vault tolerates (an
  // optional JSON body under any content type) and answer errors in Vault's
  // shape {"errors":["..."]} with the code in an X-Sealgate-Error header.
  bool vault = false;
};

// Closes connections whose current request outlives its deadline, so a client
// that trickles bytes (each read within Poco's per-read timeout) cannot hold a
// worker thread. The clock starts at accept and restarts after each response.
class DeadlineWatchdog {
 public:
  explicit DeadlineWatchdog(std::chrono::milliseconds deadline);
  ~DeadlineWatchdog();
  void watch(int fd);
  void unwatch(int fd);
  void rearm(int fd);
  void extend(int fd, std::chrono::steady_clock::time_point until);
  std::uint64_t expiredCount() const { return expired_.load(); }

 private:
  void loop();
  const std::chrono::milliseconds deadline_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, std::chrono::steady_clock::time_point> deadlines_;
  bool stop_ = false;
  std::atomic<std::uint64_t> expired_{0};
  std::thread thread_;
};

enum class ListenerKind { Pep, Admin };

class Listener {
 public:
  // `tlsKey` is an EVP_PKEY whose private operations run in the HSM.
  static Result<std::unique_ptr<Listener>> create(ListenerKind kind, const ListenerConfig& config,
                                                  const Limits& limits, EVP_PKEY* tlsKey,
                                                  std::vector<Route> routes);
  ~Listener();
  void start();
  void stop();
  std::uint16_t port() const;
  ListenerKind kind() const { return kind_; }

 private:
  Listener() = default;
  ListenerKind kind_ = ListenerKind::Pep;
  std::unique_ptr<DeadlineWatchdog> watchdog_;
  std::unique_ptr<Poco::ThreadPool> pool_;
  std::unique_ptr<Poco::Net::TCPServer> server_;
  Poco::SharedPtr<Poco::Net::HTTPRequestHandlerFactory> handlers_;
  std::function<void()> drainConnections_;
};

nlohmann::json errorBody(const std::string& code, const std::string& message, const std::string& correlationId);

// The egress guard on a response about to be written: scrubs the JSON body's
// strings and keys, the raw body and the header values of live secret values. A
// response that would still carry one (a number, a value split by JSON syntax, a
// header name) becomes 502 EGRESS_BLOCKED, in Vault's error shape when
// `vaultErrors`. Returns the body bytes to send.
struct GuardedBody {
  std::string bytes;
  bool blocked = false;
};
GuardedBody guardResponse(Response& out, const std::string& correlationId, bool vaultErrors);

// Shared request-body checks, for handlers: every key of `body` must be in
// `allowed` (else UNKNOWN_FIELD) and every key of `required` present.
std::optional<HttpError> checkFields(const nlohmann::json& body, std::initializer_list<const char*> allowed,
                                     std::initializer_list<const char*> required);

}  // namespace sealgate::appliance
