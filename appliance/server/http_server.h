// The HTTPS listeners: strict HTTP/1.1 (appliance/server/http_parse.h) over mTLS with
// the TLS key in the HSM (appliance/server/tls_frontend.h: handshakes in their own
// stage, per-peer and total connection caps, CRLs), a route table, the API.md
// error model, a body size limit and a whole-request deadline.
#pragma once

#include <openssl/evp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "appliance/config/config.h"
#include "appliance/server/identity.h"
#include "appliance/server/query_params.h"
#include "appliance/telemetry/metrics.h"
#include "core/result.h"

namespace sealgate::appliance {

// An error answer in API.md's shape. The status is the code's, from the one table
// (core/error_code.h); no surface answers a code with another status. A code that
// is not API-facing (a component's own, e.g. HSM_KEY_NOT_FOUND) is not answered:
// it becomes 500 INTERNAL, and the original is logged.
struct HttpError {
  HttpError(ErrorCode code, std::string message, std::map<std::string, std::string> headers = {});

  ErrorCode code;
  int status;
  std::string message;
  std::map<std::string, std::string> headers;  // e.g. WWW-Authenticate on DPoP failures
};

// bugprone-exception-escape flags any struct holding an nlohmann::json: its move
// operations are declared noexcept; the check follows them into code that throws only
// on a broken json invariant.
// NOLINTNEXTLINE(bugprone-exception-escape)
struct Request {
  std::string correlationId;
  std::string method;
  std::string path;
  Identity identity;
  nlohmann::json body;  // the parsed JSON object for routes that take one
  std::string host;     // the Host header (checked against the listener's names)
  // The listener's public URL from configuration (pep.public_url, or in
  // development mode https://<listen host>:<port>), without a trailing '/':
  // DPoP proofs are checked against it plus the path, never against Host.
  std::string publicBase;
  std::vector<std::string> dpop;  // every DPoP header value (RFC 9449 wants exactly one)
  std::string query;              // the raw query string, without '?'
  std::string pathParam;          // the "{id}" segment of routes that have one, or what "/**" matched
  // Lowercased names; a field may appear twice only if it is a list (its values
  // joined with ", "), any other repeated field was refused (HTTP_MALFORMED).
  std::map<std::string, std::string> headers;
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
  std::string path;  // exact, or with one "{id}" segment (anywhere), or ending in "/**" (any rest, even empty)
  Access access = Access::Service;
  std::set<std::string> roles;  // for Access::Admin; empty = any admin-side role
  bool takesJsonBody = false;
  Handler handler;
  // Vault-compatible (KV v2, sys/leases): tolerate what Vault tolerates (an
  // optional JSON body under any content type) and answer errors in Vault's
  // shape {"errors":["..."]} with the code in an X-Sealgate-Error header.
  bool vault = false;
};

enum class ListenerKind { Pep, Admin };

class TlsFrontEnd;

// A listener's TLS context: its certificate chain and the HSM's TLS key.
using TlsContext = std::shared_ptr<ssl_ctx_st>;

class Listener {
 public:
  // The context `config` names: its cert_file chain with `tlsKey`, checked to
  // match (TLS_CONFIG otherwise), client certificates verified against ca_file.
  static Result<TlsContext> makeTlsContext(const ListenerConfig& config, EVP_PKEY* tlsKey);
  // `tlsKey` is an EVP_PKEY whose private operations run in the HSM. Every
  // request is counted and timed in `metrics` (API.md, "Metrics") when given.
  static Result<std::unique_ptr<Listener>> create(ListenerKind kind, const ListenerConfig& config, const Limits& limits,
                                                  EVP_PKEY* tlsKey, std::vector<Route> routes,
                                                  Metrics* metrics = nullptr);
  ~Listener();
  void start();
  void stop();
  std::uint16_t port() const;
  ListenerKind kind() const { return kind_; }
  // Certificate rotation (docs/RUNBOOK.md, "Key rotation"): new connections use
  // `context`; open ones finish with theirs. The host names a request may carry
  // stay those of the certificate the listener started with.
  void useTlsContext(TlsContext context);
  // Connections accepted, refused at the caps, and handshakes failed (by reason) or timed out.
  struct ConnectionStats {
    std::uint64_t accepted = 0, refusedAtCap = 0, refusedPerPeer = 0, handshakeFailed = 0, handshakeTimedOut = 0;
    std::map<std::string, std::uint64_t> handshakeFailures;
  };
  ConnectionStats connectionStats() const;

 private:
  Listener() = default;
  ListenerKind kind_ = ListenerKind::Pep;
  std::shared_ptr<void> state_;  // the routes and limits the workers use
  std::unique_ptr<TlsFrontEnd> frontEnd_;
  TlsContext tls_;
};

nlohmann::json errorBody(ErrorCode code, const std::string& message, const std::string& correlationId);

// SHA-256 (hex) of the DER of the first certificate in a PEM file; TLS_CONFIG
// when it cannot be read.
Result<std::string> certificateFingerprint(const std::string& certFile);

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

// Why an admin made a change, from `?reason=` (optional; what the web UI sends
// with every destructive action): "" when absent; INVALID_REQUEST when badly
// encoded, over 500 bytes or holding a control character. It goes into the
// change's audit event.
Result<std::string> reasonFromQuery(const Request& request);

// Shared request-body checks, for handlers: every key of `body` must be in
// `allowed` (else UNKNOWN_FIELD) and every key of `required` present.
std::optional<HttpError> checkFields(const nlohmann::json& body, std::initializer_list<const char*> allowed,
                                     std::initializer_list<const char*> required);

}  // namespace sealgate::appliance
