#include "appliance/http_server.h"

#include <Poco/Crypto/EVPPKey.h>
#include <Poco/Crypto/X509Certificate.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerConnection.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <Poco/String.h>

#include <algorithm>
#include <istream>

#include "appliance/egress.h"
#include "appliance/logging.h"
#include "appliance/request_bodies.h"
#include "core/encoding.h"
#include "core/json_parse.h"
#include "core/secret.h"

namespace sealgate::appliance {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// ---- watchdog ------------------------------------------------------------------------

DeadlineWatchdog::DeadlineWatchdog(std::chrono::milliseconds deadline)
    : deadline_(deadline), thread_([this] { loop(); }) {}

DeadlineWatchdog::~DeadlineWatchdog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DeadlineWatchdog::watch(int fd) { rearm(fd); }

void DeadlineWatchdog::unwatch(int fd) {
  std::lock_guard lock(mu_);
  deadlines_.erase(fd);
}

void DeadlineWatchdog::rearm(int fd) { extend(fd, Clock::now() + deadline_); }

void DeadlineWatchdog::extend(int fd, Clock::time_point until) {
  std::lock_guard lock(mu_);
  deadlines_[fd] = until;
}

void DeadlineWatchdog::loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(50));
    const auto now = Clock::now();
    for (auto it = deadlines_.begin(); it != deadlines_.end();) {
      if (it->second <= now) {
        // shutdown() wakes the worker blocked in read(); it then unwinds and
        // closes the socket itself, so the fd cannot be reused under us.
        ::shutdown(it->first, SHUT_RDWR);
        ++expired_;
        it = deadlines_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

// ---- helpers -------------------------------------------------------------------------

json errorBody(const std::string& code, const std::string& message, const std::string& correlationId) {
  return json{{"error", {{"code", code}, {"message", message}, {"correlation_id", correlationId}}}};
}

std::optional<HttpError> checkFields(const json& body, std::initializer_list<const char*> allowed,
                                     std::initializer_list<const char*> required) {
  auto checked = checkBodyFields(body, allowed, required);
  if (checked) return std::nullopt;
  return HttpError{400, checked.error().code, checked.error().message};
}

namespace {
std::string serialisedBody(const Response& out) {
  return out.status == 204 ? std::string() : out.rawBody.empty() ? out.body.dump() : out.rawBody;
}
}  // namespace

GuardedBody guardResponse(Response& out, const std::string& correlationId, bool vaultErrors) {
  const EgressGuard& guard = egressGuard();
  if (!guard.active()) return {serialisedBody(out), false};
  bool carries = false;
  for (auto& [name, value] : out.headers) {
    guard.scrub(value);
    carries = carries || guard.carries(name) || guard.carries(value);
  }
  if (out.rawBody.empty()) {
    out.body = guard.scrubJson(std::move(out.body));
  } else {
    guard.scrub(out.rawBody);
  }
  std::string bytes = serialisedBody(out);
  if (!carries && !guard.carries(bytes)) return {std::move(bytes), false};
  secureWipe(bytes.data(), bytes.size());
  secureWipe(out.rawBody.data(), out.rawBody.size());
  const std::string message = "the response would have carried a secret value";
  Response blocked(502, vaultErrors ? json{{"errors", json::array({message})}}
                                    : errorBody(egress_errc::kBlocked, message, correlationId));
  if (vaultErrors) blocked.headers["X-Sealgate-Error"] = egress_errc::kBlocked;
  out = std::move(blocked);
  return {out.body.dump(), true};
}

namespace {

std::string newCorrelationId() {
  unsigned char raw[12];
  RAND_bytes(raw, sizeof raw);
  return hexLower(raw);
}

// Requests served on the connection this worker thread is running (a connection
// runs on one thread from accept to close).
thread_local std::uint64_t tRequestsOnConnection = 0;

const char* listenerName(ListenerKind k) { return k == ListenerKind::Pep ? "pep" : "admin"; }

struct ListenerState {
  ListenerKind kind;
  Limits limits;
  std::vector<Route> routes;
  DeadlineWatchdog* watchdog;
};

// Exact paths, or a final "{id}" segment that matches one non-empty segment of
// [A-Za-z0-9_-] (ids are base64url).
bool matchRoute(const std::string& pattern, const std::string& path, std::string& param) {
  constexpr std::string_view kRest = "/**";
  if (pattern.size() >= kRest.size() && pattern.compare(pattern.size() - kRest.size(), kRest.size(), kRest) == 0) {
    const std::size_t prefix = pattern.size() - kRest.size() + 1;  // keeps the '/'
    if (path.size() < prefix || path.compare(0, prefix, pattern, 0, prefix) != 0) return false;
    param = path.substr(prefix);
    return true;
  }
  constexpr std::string_view kParam = "{id}";
  if (pattern.size() < kParam.size() || pattern.compare(pattern.size() - kParam.size(), kParam.size(), kParam) != 0) {
    return pattern == path;
  }
  const std::size_t prefix = pattern.size() - kParam.size();
  if (path.size() <= prefix || path.compare(0, prefix, pattern, 0, prefix) != 0) return false;
  const std::string rest = path.substr(prefix);
  if (rest.size() > 128 || !std::all_of(rest.begin(), rest.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      })) {
    return false;
  }
  param = rest;
  return true;
}

bool isJsonContentType(const std::string& ct) {
  std::string base = ct.substr(0, ct.find(';'));
  while (!base.empty() && base.back() == ' ') base.pop_back();
  for (auto& c : base) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return base == "application/json";
}

// Reads the body within the request deadline and the size limit. Sets
// `closeAfter` whenever the connection can no longer be reused safely.
std::optional<HttpError> readBody(Poco::Net::HTTPServerRequest& req, Poco::Net::StreamSocket& socket,
                                  std::size_t maxBytes, Clock::time_point deadline, std::string& out,
                                  bool& closeAfter) {
  const auto declared = req.getContentLength64();
  if (declared > static_cast<std::int64_t>(maxBytes)) {
    closeAfter = true;
    return HttpError{413, "BODY_TOO_LARGE", "request bodies are limited to " + std::to_string(maxBytes) + " bytes"};
  }
  if (declared == Poco::Net::HTTPMessage::UNKNOWN_CONTENT_LENGTH && !req.getChunkedTransferEncoding()) return std::nullopt;
  const Poco::Timespan savedTimeout = socket.getReceiveTimeout();
  std::istream& in = req.stream();
  in.exceptions(std::ios::badbit);
  std::optional<HttpError> failure;
  try {
    char buf[8192];
    while (true) {
      const auto remaining = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
      if (remaining.count() <= 0) throw Poco::TimeoutException("request deadline");
      socket.setReceiveTimeout(Poco::Timespan(remaining.count()));
      // peek() performs at most one socket read, so the deadline is checked
      // between reads however slowly the client sends; readsome() then takes
      // only what is already buffered.
      if (in.peek() == std::char_traits<char>::eof()) break;
      const std::size_t want = std::min(sizeof buf, maxBytes + 1 - out.size());
      out.append(buf, static_cast<std::size_t>(in.readsome(buf, static_cast<std::streamsize>(want))));
      if (out.size() > maxBytes) {
        closeAfter = true;
        failure = HttpError{413, "BODY_TOO_LARGE", "request bodies are limited to " + std::to_string(maxBytes) + " bytes"};
        break;
      }
    }
  } catch (const Poco::TimeoutException&) {
    closeAfter = true;
    failure = HttpError{408, "REQUEST_TIMEOUT", "the request was not received within the deadline"};
  } catch (const Poco::Exception&) {
    closeAfter = true;
    failure = HttpError{400, "INVALID_REQUEST", "the request body could not be read"};
  }
  try {
    socket.setReceiveTimeout(savedTimeout);
  } catch (const Poco::Exception&) {
    closeAfter = true;
  }
  if (!failure && declared >= 0 && out.size() != static_cast<std::size_t>(declared)) {
    closeAfter = true;
    failure = HttpError{400, "INVALID_REQUEST", "the request body is shorter than its Content-Length"};
  }
  return failure;
}

class Dispatcher : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Dispatcher(const ListenerState& state) : state_(state) {}

  void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
    const auto started = Clock::now();
    ++tRequestsOnConnection;
    auto& socket = static_cast<Poco::Net::HTTPServerRequestImpl&>(req).socket();
    const int fd = socket.impl()->sockfd();
    const auto deadline = started + state_.limits.requestDeadline;
    // The handler answers 408 itself; the watchdog only steps in if it cannot.
    state_.watchdog->extend(fd, deadline + std::chrono::seconds(2));

    Request request;
    request.correlationId = newCorrelationId();
    request.method = req.getMethod();
    const std::string& uri = req.getURI();
    request.path = uri.substr(0, uri.find('?'));
    if (auto q = uri.find('?'); q != std::string::npos) request.query = uri.substr(q + 1);
    request.host = req.get("Host", "");
    for (const auto& [name, value] : req) {
      if (Poco::icompare(name, "DPoP") == 0) request.dpop.push_back(value);
      request.headers.emplace(Poco::toLower(name), value);
    }
    bool closeAfter = false;
    const Route* route = nullptr;
    HandlerResult result = dispatch(req, socket, deadline, request, route, closeAfter);

    Response out;
    std::string code;
    if (auto* err = std::get_if<HttpError>(&result)) {
      out.status = err->status;
      out.body = request.vaultErrors ? json{{"errors", json::array({err->message})}}
                                     : errorBody(err->code, err->message, request.correlationId);
      code = err->code;
      out.headers = err->headers;
      if (request.vaultErrors) out.headers["X-Sealgate-Error"] = err->code;
      if (err->code == "METHOD_NOT_ALLOWED") out.headers["Allow"] = allowedMethods(request.path);
    } else {
      out = std::move(std::get<Response>(result));
    }
    const GuardedBody body = guardResponse(out, request.correlationId, request.vaultErrors);
    if (body.blocked) code = egress_errc::kBlocked;
    send(resp, out, body.bytes, request.correlationId, closeAfter);

    json fields = {{"listener", listenerName(state_.kind)},
                   {"method", request.method},
                   {"route", route != nullptr ? route->path : "unmatched"},
                   {"status", out.status},
                   {"correlation_id", request.correlationId},
                   {"duration_ms", std::chrono::duration<double, std::milli>(Clock::now() - started).count()}};
    if (!request.identity.spiffeId.empty()) fields["identity"] = request.identity.spiffeId;
    if (!code.empty()) fields["code"] = code;
    logEvent(out.status >= 500 ? LogLevel::Error : LogLevel::Info, "http_request", std::move(fields));
    state_.watchdog->rearm(fd);
  }

 private:
  HandlerResult dispatch(Poco::Net::HTTPServerRequest& req, Poco::Net::StreamSocket& socket,
                         Clock::time_point deadline, Request& request, const Route*& route, bool& closeAfter) {
    try {
      Poco::Net::SecureStreamSocket secure(socket);
      if (!secure.havePeerCertificate()) return HttpError{401, "UNAUTHENTICATED", "a client certificate is required"};
      Poco::Crypto::X509Certificate peer = secure.peerCertificate();
      auto identity = identityFromCertificate(const_cast<X509*>(peer.certificate()));
      if (!identity) return HttpError{403, identity.error().code, identity.error().message};
      request.identity = std::move(*identity);

      const Route* pathMatch = nullptr;
      for (const auto& r : state_.routes) {
        if (!matchRoute(r.path, request.path, request.pathParam)) continue;
        pathMatch = &r;
        if (r.method == request.method) {
          route = &r;
          break;
        }
      }
      if (pathMatch != nullptr) request.vaultErrors = pathMatch->vault;
      const bool probe = pathMatch != nullptr && pathMatch->access == Access::AnyClient;
      const bool adminIdentity = request.identity.kind == IdentityKind::Admin;
      if (!probe && adminIdentity != (state_.kind == ListenerKind::Admin)) {
        return HttpError{403, "WRONG_LISTENER",
                         state_.kind == ListenerKind::Pep ? "admin identities use the admin listener"
                                                          : "service identities use the PEP listener"};
      }
      if (pathMatch == nullptr) return HttpError{404, "NOT_FOUND", "no such endpoint"};
      if (route == nullptr) return HttpError{405, "METHOD_NOT_ALLOWED", "method not allowed on this endpoint"};
      if (route->access == Access::Admin && !route->roles.empty() && !route->roles.count(request.identity.role)) {
        return HttpError{403, "FORBIDDEN", "this endpoint needs one of the roles: " + joinRoles(route->roles)};
      }
      if (route->takesJsonBody) {
        if (!req.has("Content-Type") || !isJsonContentType(req.getContentType())) {
          closeAfter = true;
          return HttpError{415, "UNSUPPORTED_MEDIA_TYPE", "the body must be application/json"};
        }
        std::string raw;
        if (auto err = readBody(req, socket, state_.limits.maxBodyBytes, deadline, raw, closeAfter)) return *err;
        auto parsed = parseJson(raw);
        if (!parsed) return HttpError{400, parsed.error().code, "the body is not acceptable JSON: " + parsed.error().message};
        request.body = std::move(*parsed);
        if (!request.body.is_object()) return HttpError{400, "BAD_JSON", "the body must be a JSON object"};
      } else if (route->vault) {
        // Vault reads a JSON body whatever the content type says, and none at all.
        std::string raw;
        if (auto err = readBody(req, socket, state_.limits.maxBodyBytes, deadline, raw, closeAfter)) return *err;
        if (raw.find_first_not_of(" \t\r\n") != std::string::npos) {
          auto parsed = parseJson(raw);
          secureWipe(raw.data(), raw.size());  // KV writes carry secret values
          if (!parsed) return HttpError{400, parsed.error().code, "failed to parse JSON input: " + parsed.error().message};
          request.body = std::move(*parsed);
          if (!request.body.is_object()) return HttpError{400, "BAD_JSON", "failed to parse JSON input"};
        } else {
          request.body = json::object();
        }
      }
      return route->handler(request);
    } catch (const Poco::Exception& e) {
      closeAfter = true;
      logEvent(LogLevel::Error, "handler_exception", {{"correlation_id", request.correlationId}, {"what", e.displayText()}});
      return HttpError{500, "INTERNAL", "internal error"};
    } catch (const std::exception& e) {
      closeAfter = true;
      logEvent(LogLevel::Error, "handler_exception", {{"correlation_id", request.correlationId}, {"what", e.what()}});
      return HttpError{500, "INTERNAL", "internal error"};
    }
  }

  static std::string joinRoles(const std::set<std::string>& roles) {
    std::string out;
    for (const auto& r : roles) out += (out.empty() ? "" : ", ") + r;
    return out;
  }

  std::string allowedMethods(const std::string& path) const {
    std::string out;
    for (const auto& r : state_.routes) {
      std::string unused;
      if (matchRoute(r.path, path, unused)) out += (out.empty() ? "" : ", ") + r.method;
    }
    return out;
  }

  static void send(Poco::Net::HTTPServerResponse& resp, const Response& out, const std::string& body,
                   const std::string& correlationId, bool closeAfter) {
    resp.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(out.status));
    resp.setContentType(out.contentType);
    resp.set("X-Correlation-Id", correlationId);
    resp.set("Cache-Control", "no-store");
    resp.set("X-Content-Type-Options", "nosniff");
    for (const auto& [k, v] : out.headers) resp.set(k, v);
    if (closeAfter) resp.setKeepAlive(false);
    resp.setContentLength64(static_cast<std::int64_t>(body.size()));
    resp.send() << body;
  }

  const ListenerState& state_;
};

class DispatcherFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit DispatcherFactory(std::shared_ptr<ListenerState> state) : state_(std::move(state)) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new Dispatcher(*state_);
  }
  // Each open connection finishes its in-flight request, then closes.
  void drainConnections() {
    const bool abortCurrent = false;
    serverStopped(this, abortCurrent);
  }

 private:
  std::shared_ptr<ListenerState> state_;
};

// HTTPServerConnection under the watchdog: the TLS handshake, header reading and
// every request of a keep-alive connection run against the deadline.
class GuardedConnection : public Poco::Net::HTTPServerConnection {
 public:
  GuardedConnection(const Poco::Net::StreamSocket& s, Poco::Net::HTTPServerParams::Ptr params,
                    Poco::Net::HTTPRequestHandlerFactory::Ptr factory, DeadlineWatchdog& watchdog, ListenerKind kind)
      : HTTPServerConnection(s, params, factory), watchdog_(watchdog), kind_(kind) {}

  void run() override {
    const int fd = socket().impl()->sockfd();
    watchdog_.watch(fd);
    tRequestsOnConnection = 0;
    try {
      HTTPServerConnection::run();
    } catch (const Poco::Exception& e) {
      if (tRequestsOnConnection == 0 && !handshakeCompleted()) {
        // Handshake failures (no or untrusted client certificate) end here: such
        // a connection never reaches a handler.
        logEvent(LogLevel::Info, "connection_rejected", {{"listener", listenerName(kind_)}, {"reason", e.displayText()}});
      } else {
        // A verified client that closed without (further) requests, e.g. without
        // close_notify after its last response, or a TLS health probe.
        logEvent(LogLevel::Debug, "connection_closed", {{"listener", listenerName(kind_)}, {"reason", e.displayText()}});
      }
    }
    watchdog_.unwatch(fd);
  }

 private:
  // True when the peer passed the mTLS handshake (its certificate verified).
  bool handshakeCompleted() {
    try {
      Poco::Net::SecureStreamSocket secure(socket());
      return secure.havePeerCertificate();
    } catch (const Poco::Exception&) {
      return false;
    }
  }

  DeadlineWatchdog& watchdog_;
  ListenerKind kind_;
};

class GuardedConnectionFactory : public Poco::Net::TCPServerConnectionFactory {
 public:
  GuardedConnectionFactory(Poco::Net::HTTPServerParams::Ptr params, Poco::Net::HTTPRequestHandlerFactory::Ptr factory,
                           DeadlineWatchdog& watchdog, ListenerKind kind)
      : params_(std::move(params)), factory_(std::move(factory)), watchdog_(watchdog), kind_(kind) {}
  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
    return new GuardedConnection(socket, params_, factory_, watchdog_, kind_);
  }

 private:
  Poco::Net::HTTPServerParams::Ptr params_;
  Poco::Net::HTTPRequestHandlerFactory::Ptr factory_;
  DeadlineWatchdog& watchdog_;
  ListenerKind kind_;
};

Result<Poco::Net::Context::Ptr> makeServerContext(const ListenerConfig& config, EVP_PKEY* tlsKey) {
  try {
    Poco::Net::Context::Params p;
    p.caLocation = config.caFile;
    p.verificationMode = Poco::Net::Context::VERIFY_STRICT;  // client certificate required
    p.verificationDepth = 4;
    p.loadDefaultCAs = false;
    p.cipherList = "ECDHE+AESGCM:ECDHE+CHACHA20";
    Poco::Net::Context::Ptr ctx = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, p);
    ctx->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
    // Poco would otherwise match the client certificate's names against its IP.
    ctx->enableExtendedCertificateVerification(false);
    ctx->enableSessionCache(true, "sealgate");
    ctx->useCertificate(Poco::Crypto::X509Certificate(config.certFile));
    ctx->usePrivateKey(Poco::Crypto::EVPPKey(tlsKey));
    if (SSL_CTX_check_private_key(ctx->sslContext()) != 1) {
      return makeError("TLS_CONFIG", "the server certificate does not match the HSM's TLS key");
    }
    return ctx;
  } catch (const Poco::Exception& e) {
    return makeError("TLS_CONFIG", "cannot set up TLS: " + e.displayText());
  }
}

}  // namespace

// ---- listener --------------------------------------------------------------------------

Result<std::unique_ptr<Listener>> Listener::create(ListenerKind kind, const ListenerConfig& config,
                                                   const Limits& limits, EVP_PKEY* tlsKey, std::vector<Route> routes) {
  auto ctx = makeServerContext(config, tlsKey);
  if (!ctx) return std::move(ctx).takeError();
  std::unique_ptr<Listener> l(new Listener());
  l->kind_ = kind;
  l->watchdog_ = std::make_unique<DeadlineWatchdog>(limits.requestDeadline);
  auto state = std::make_shared<ListenerState>(ListenerState{kind, limits, std::move(routes), l->watchdog_.get()});
  try {
    Poco::Net::SecureServerSocket socket(Poco::Net::SocketAddress(config.listen), 128, *ctx);
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setServerName("sealgate");
    params->setSoftwareVersion("sealgate");
    params->setTimeout(Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(limits.requestDeadline).count()));
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(
        Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(limits.keepAliveTimeout).count()));
    params->setMaxKeepAliveRequests(10000);
    params->setMaxThreads(static_cast<int>(limits.workerThreads));
    params->setMaxQueued(static_cast<int>(limits.maxConnections - limits.workerThreads));
    l->pool_ = std::make_unique<Poco::ThreadPool>(2, static_cast<int>(limits.workerThreads) + 1);
    Poco::SharedPtr<DispatcherFactory> handlers = new DispatcherFactory(state);
    l->handlers_ = handlers;
    l->drainConnections_ = [h = handlers.get()] { h->drainConnections(); };
    l->server_ = std::make_unique<Poco::Net::TCPServer>(
        new GuardedConnectionFactory(params, l->handlers_, *l->watchdog_, kind), *l->pool_, socket, params);
  } catch (const Poco::Exception& e) {
    return makeError("LISTEN_FAILED", "cannot listen on " + config.listen + ": " + e.displayText());
  }
  return l;
}

Listener::~Listener() { stop(); }

void Listener::start() { server_->start(); }

void Listener::stop() {
  if (server_) {
    logEvent(LogLevel::Info, "listener_stopping",
             {{"listener", listenerName(kind_)},
              {"connections_total", server_->totalConnections()},
              {"connections_refused_at_cap", server_->refusedConnections()},
              {"connections_closed_at_deadline", watchdog_->expiredCount()}});
    server_->stop();  // no new connections
    drainConnections_();
    pool_->joinAll();
    server_.reset();
  }
}

std::uint16_t Listener::port() const { return server_ ? server_->port() : 0; }

}  // namespace sealgate::appliance
