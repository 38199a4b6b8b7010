#include "appliance/server/http_server.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>

#include "appliance/server/http_parse.h"
#include "appliance/server/request_bodies.h"
#include "appliance/server/tls_frontend.h"
#include "appliance/telemetry/egress.h"
#include "appliance/telemetry/logging.h"
#include "core/encoding.h"
#include "core/json_parse.h"
#include "core/openssl_ptr.h"
#include "core/secret.h"
#include "core/wipe.h"

namespace sealgate::appliance {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using Io = TlsConnection::Io;

// ---- helpers -------------------------------------------------------------------------

HttpError::HttpError(ErrorCode c, std::string m, std::map<std::string, std::string> h)
    : code(c), status(httpStatus(c)), message(std::move(m)), headers(std::move(h)) {
  if (!isApiCode(code)) {
    logEvent(LogLevel::Error, "internal_code_answered", {{"code", code}, {"error", message}});
    code = ErrorCode::Internal;
    status = httpStatus(code);
    message = "an unexpected failure (logged)";
  }
}

json errorBody(ErrorCode code, const std::string& message, const std::string& correlationId) {
  return json{{"error", {{"code", errorCodeName(code)}, {"message", message}, {"correlation_id", correlationId}}}};
}

std::optional<HttpError> checkFields(const json& body, std::initializer_list<const char*> allowed,
                                     std::initializer_list<const char*> required) {
  auto checked = checkBodyFields(body, allowed, required);
  if (checked) return std::nullopt;
  return HttpError{checked.error().code, checked.error().message};
}

namespace {
std::string serialisedBody(const Response& out) {
  // dumpJsonExact: no growing buffer leaves partial copies of a revealed value behind.
  return out.status == 204 ? std::string() : out.rawBody.empty() ? dumpJsonExact(out.body) : out.rawBody;
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
  countEgressBlock(EgressBlocked::Response);
  const std::string message = "the response would have carried a secret value";
  Response blocked(502, vaultErrors ? json{{"errors", json::array({message})}}
                                    : errorBody(egress_errc::kBlocked, message, correlationId));
  if (vaultErrors) blocked.headers["X-Sealgate-Error"] = errorCodeName(egress_errc::kBlocked);
  out = std::move(blocked);
  return {out.body.dump(), true};
}

namespace {

std::string newCorrelationId() {
  unsigned char raw[12];
  RAND_bytes(raw, sizeof raw);
  return hexLower(raw);
}

const char* listenerName(ListenerKind k) { return k == ListenerKind::Pep ? "pep" : "admin"; }

constexpr unsigned kMaxRequestsPerConnection = 10000;

struct ListenerState {
  ListenerKind kind;
  Limits limits;
  std::vector<Route> routes;
  http::ServerNames names;  // what a Host header may name
  std::string publicBase;   // Request::publicBase
  Metrics* metrics = nullptr;
};

// Exact paths, or one "{id}" segment anywhere in the pattern, which matches one
// non-empty segment of [A-Za-z0-9._-] (ids are base64url or hex; names may hold
// dots) other than "." and "..", or a final "/**" that matches any rest.
bool matchRoute(const std::string& pattern, const std::string& path, std::string& param) {
  constexpr std::string_view kRest = "/**";
  if (pattern.size() >= kRest.size() && pattern.compare(pattern.size() - kRest.size(), kRest.size(), kRest) == 0) {
    const std::size_t prefix = pattern.size() - kRest.size() + 1;  // keeps the '/'
    if (path.size() < prefix || path.compare(0, prefix, pattern, 0, prefix) != 0) return false;
    param = path.substr(prefix);
    return true;
  }
  constexpr std::string_view kParam = "{id}";
  const std::size_t at = pattern.find(kParam);
  if (at == std::string::npos) return pattern == path;
  const std::string_view suffix = std::string_view(pattern).substr(at + kParam.size());
  if (path.size() <= at + suffix.size() || path.compare(0, at, pattern, 0, at) != 0 ||
      path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return false;
  }
  const std::string segment = path.substr(at, path.size() - at - suffix.size());
  if (segment.size() > 128 || segment == "." || segment == ".." ||
      !std::all_of(segment.begin(), segment.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      })) {
    return false;
  }
  param = segment;
  return true;
}

}  // namespace

Result<std::string> reasonFromQuery(const Request& request) {
  constexpr std::size_t kMaxReasonBytes = 500;
  SEALGATE_ASSIGN_OR_RETURN(auto reason, queryValue(request.query, "reason"));
  if (reason && reason->size() > kMaxReasonBytes) {
    return Error{ErrorCode::InvalidRequest, "the reason is longer than 500 bytes"};
  }
  return reason.value_or("");
}

namespace {

bool isJsonContentType(const std::string& ct) {
  std::string base = ct.substr(0, ct.find(';'));
  while (!base.empty() && base.back() == ' ') base.pop_back();
  for (auto& c : base) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return base == "application/json";
}

// A request's body, read on demand within the request deadline and the size
// limit: Content-Length or chunked (RFC 9112 §6), "100 Continue" sent only when
// the handler is about to read (so a refusal, e.g. 413 for a declared length over
// the limit, comes before the client sends anything).
class BodyReader {
 public:
  BodyReader(TlsConnection& conn, std::string& buffered, const http::RequestHead& head, std::size_t maxBytes,
             Clock::time_point deadline)
      : conn_(conn), buf_(buffered), head_(head), maxBytes_(maxBytes), deadline_(deadline) {}

  // True once the body was read whole (or there is none): the connection can
  // carry another request.
  bool consumed() const { return consumed_ || head_.body == http::RequestHead::Body::None; }

  std::optional<HttpError> read(std::string& out, bool& closeAfter) {
    out.clear();
    if (head_.body == http::RequestHead::Body::None) return std::nullopt;
    if (head_.body == http::RequestHead::Body::Length && head_.contentLength > maxBytes_) {
      closeAfter = true;
      return tooLarge();
    }
    if (head_.expectContinue && buf_.empty()) {
      if (conn_.writeAll("HTTP/1.1 100 Continue\r\n\r\n", deadline_) != Io::Ok) {
        closeAfter = true;
        return HttpError{ErrorCode::InvalidRequest, "the request body could not be read"};
      }
    }
    if (head_.body == http::RequestHead::Body::Length) {
      const auto want = static_cast<std::size_t>(head_.contentLength);
      while (buf_.size() < want) {
        if (auto e = more(closeAfter)) return e;
      }
      out.assign(buf_, 0, want);
      buf_.erase(0, want);
      consumed_ = true;
      return std::nullopt;
    }
    http::ChunkedDecoder decoder(maxBytes_);
    while (true) {
      std::size_t used = 0;
      const auto status = decoder.feed(buf_, out, used);
      buf_.erase(0, used);
      if (status == http::ChunkedDecoder::Status::Done) {
        consumed_ = true;
        return std::nullopt;
      }
      if (status == http::ChunkedDecoder::Status::Error) {
        closeAfter = true;
        secureWipe(out.data(), out.size());
        return HttpError{decoder.error().code, decoder.error().message};
      }
      if (auto e = more(closeAfter)) return e;
    }
  }

 private:
  HttpError tooLarge() const {
    return HttpError{ErrorCode::BodyTooLarge, "request bodies are limited to " + std::to_string(maxBytes_) + " bytes"};
  }
  // One more read, or the error that ends the request: a stalled body and a
  // trickled one both meet the same deadline.
  std::optional<HttpError> more(bool& closeAfter) {
    const Io io = conn_.read(buf_, deadline_, false);
    if (io == Io::Ok) return std::nullopt;
    closeAfter = true;
    if (io == Io::Timeout)
      return HttpError{ErrorCode::RequestTimeout, "the request was not received within the deadline"};
    return HttpError{ErrorCode::InvalidRequest, "the request body is shorter than its framing says"};
  }

  TlsConnection& conn_;
  std::string& buf_;
  const http::RequestHead& head_;
  std::size_t maxBytes_;
  Clock::time_point deadline_;
  bool consumed_ = false;
};

bool validHeaderValue(const std::string& v) {
  return std::none_of(v.begin(), v.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

std::string httpDate() {
  char buf[64];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// The response head and body, with the reason phrase of the status.
std::string renderResponse(const Response& out, const std::string& body, const std::string& correlationId, bool close) {
  std::string r = "HTTP/1.1 " + std::to_string(out.status) + " " + http::reasonPhrase(out.status) + "\r\n";
  auto add = [&r](const std::string& name, const std::string& value) {
    if (name.empty() || !validHeaderValue(name) || name.find(':') != std::string::npos || !validHeaderValue(value)) {
      return;  // never a header that could split the response
    }
    r += name + ": " + value + "\r\n";
  };
  add("Date", httpDate());
  add("Server", "sealgate");
  if (out.status != 204) {
    add("Content-Type", out.contentType);
    add("Content-Length", std::to_string(body.size()));
  }
  add("X-Correlation-Id", correlationId);
  add("Cache-Control", "no-store");
  add("X-Content-Type-Options", "nosniff");
  // Data is never a page: nothing in it may run, load or be framed (UI pages,
  // appliance/ui/, set their own policy).
  if (!out.headers.count("Content-Security-Policy")) {
    add("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  }
  if (!out.headers.count("Referrer-Policy")) add("Referrer-Policy", "no-referrer");
  for (const auto& [k, v] : out.headers) add(k, v);
  if (close) add("Connection", "close");
  r += "\r\n";
  if (out.status != 204) r += body;
  return r;
}

class Dispatcher {
 public:
  explicit Dispatcher(const ListenerState& state) : state_(state) {}

  // Serves one connection: requests until the client closes, an error closes it,
  // the keep-alive timeout passes or the listener stops.
  void serve(TlsConnection& conn) {
    std::string buf;
    for (unsigned n = 0; n < kMaxRequestsPerConnection; ++n) {
      // Between requests the wait is the keep-alive timeout (the request deadline
      // for the first); a listener stop ends it.
      if (buf.empty()) {
        const auto idle = n == 0 ? state_.limits.requestDeadline : state_.limits.keepAliveTimeout;
        const Io io = conn.read(buf, Clock::now() + idle, true);
        if (io != Io::Ok) {
          logEvent(LogLevel::Debug, "connection_closed",
                   {{"listener", listenerName(state_.kind)}, {"reason", ioReason(io)}, {"requests", n}});
          return;
        }
      }
      const bool keep = serveOne(conn, buf, n + 1 == kMaxRequestsPerConnection);
      if (!keep) return;
    }
  }

 private:
  static const char* ioReason(Io io) {
    switch (io) {
      case Io::Eof:
        return "closed by the client";
      case Io::Timeout:
        return "idle";
      case Io::Stopped:
        return "listener stopping";
      default:
        return "connection error";
    }
  }

  // Reads, answers and logs one request; false when the connection must close.
  bool serveOne(TlsConnection& conn, std::string& buf, bool last) {
    // This request's egress scope (core/egress_guard.h): what its handler makes
    // live is looked for in its response, its audit events and the log lines of
    // this thread until the end of this function, and in nothing else.
    EgressScope egressScope;
    const auto started = Clock::now();
    const auto deadline = started + state_.limits.requestDeadline;
    Request request;
    WipeOnExit wipeRequest(request.body);  // KV writes carry values
    request.correlationId = newCorrelationId();
    request.publicBase = state_.publicBase;

    std::optional<http::HeadScan> scan = receiveHead(conn, buf, deadline);
    if (!scan) return false;
    http::RequestHead head;
    const std::optional<http::ParseError> parseError = parseHead(*scan, buf, head);

    bool closeAfter = last;
    const Route* route = nullptr;
    HandlerResult result = Response{};
    if (parseError) {
      // The stream can no longer be trusted to delimit requests: answer, close.
      closeAfter = true;
      result = HttpError{parseError->code, parseError->message};
    } else {
      result = answerRequest(conn, buf, head, deadline, request, route, closeAfter);
    }

    Response out;
    // Reveals and credentials carry values: the answer is wiped once sent.
    WipeOnExit wipeBody(out.body), wipeRaw(out.rawBody);
    std::optional<ErrorCode> code = toResponse(result, request, out);
    const Io written = sendResponse(conn, out, request, closeAfter, code);
    if (written != Io::Ok) closeAfter = true;
    logRequest(request, route, out, code, started);
    countRequest(route, out, code, started);
    if (closeAfter && written == Io::Ok) conn.closeGracefully();
    return !closeAfter;
  }

  // The head, whole, within the deadline. A client that does not send one in
  // time is cut off without an answer: nullopt, logged.
  std::optional<http::HeadScan> receiveHead(TlsConnection& conn, std::string& buf, Clock::time_point deadline) const {
    http::HeadScan scan = http::scanHead(buf);
    while (scan.state == http::HeadScan::Incomplete) {
      const Io io = conn.read(buf, deadline, false);
      if (io != Io::Ok) {
        logEvent(LogLevel::Info, "connection_closed",
                 {{"listener", listenerName(state_.kind)},
                  {"reason", io == Io::Timeout ? "request head not received within the deadline" : ioReason(io)}});
        return std::nullopt;
      }
      scan = http::scanHead(buf);
    }
    return scan;
  }

  // The head parsed (and taken off `buf`), or the refusal.
  static std::optional<http::ParseError> parseHead(const http::HeadScan& scan, std::string& buf,
                                                   http::RequestHead& head) {
    if (scan.state == http::HeadScan::Invalid) return scan.error;
    auto parseError = http::parseRequestHead(std::string_view(buf).substr(0, scan.end), head);
    buf.erase(0, scan.end);
    return parseError;
  }

  // The parts of a parsed head a handler reads.
  static void copyHeadToRequest(const http::RequestHead& head, Request& request) {
    request.method = head.method;
    request.path = head.target.substr(0, head.target.find('?'));
    if (auto q = head.target.find('?'); q != std::string::npos) request.query = head.target.substr(q + 1);
    request.host = head.get("host").value_or("");
    request.dpop = head.all("dpop");
    for (const auto& f : head.fields) {
      if (!request.headers.count(f.name)) request.headers.emplace(f.name, *head.get(f.name));
    }
  }

  // A well-formed request: the Host and the client certificate checked (CRLs
  // may have changed since the handshake), then dispatched to its route.
  HandlerResult answerRequest(TlsConnection& conn, std::string& buf, const http::RequestHead& head,
                              Clock::time_point deadline, Request& request, const Route*& route, bool& closeAfter) {
    copyHeadToRequest(head, request);
    if (!head.keepAlive) closeAfter = true;
    BodyReader body(conn, buf, head, state_.limits.maxBodyBytes, deadline);
    HandlerResult result = Response{};
    if (head.host && !state_.names.matches(*head.host)) {
      result = HttpError{ErrorCode::MisdirectedRequest, "the Host header does not name this listener"};
    } else if (const long cert = conn.recheckCertificate(); cert != X509_V_OK) {
      // The CRLs changed since this connection's handshake and its certificate
      // no longer verifies: this connection ends here.
      closeAfter = true;
      result =
          cert == X509_V_ERR_CERT_REVOKED
              ? HttpError{ErrorCode::CertificateRevoked, "the client certificate has been revoked"}
              : HttpError{ErrorCode::CertificateInvalid, std::string("the client certificate no longer verifies: ") +
                                                             X509_verify_cert_error_string(cert)};
    } else {
      result = dispatch(conn, head, body, request, route, closeAfter);
    }
    // A body the handler did not read would be taken for the next request.
    if (!body.consumed()) closeAfter = true;
    return result;
  }

  // The handler's answer, or its error rendered (Vault's shape on Vault routes);
  // the error code, if any, for the request log line.
  std::optional<ErrorCode> toResponse(HandlerResult& result, const Request& request, Response& out) const {
    auto* err = std::get_if<HttpError>(&result);
    if (err == nullptr) {
      out = std::move(std::get<Response>(result));
      return std::nullopt;
    }
    out.status = err->status;
    out.body = request.vaultErrors ? json{{"errors", json::array({err->message})}}
                                   : errorBody(err->code, err->message, request.correlationId);
    out.headers = err->headers;
    if (request.vaultErrors) out.headers["X-Sealgate-Error"] = errorCodeName(err->code);
    if (err->code == ErrorCode::MethodNotAllowed) out.headers["Allow"] = allowedMethods(request.path);
    return err->code;
  }

  // The answer through the egress guard (`code` becomes EGRESS_BLOCKED when it
  // blocked it), written within the request deadline; every serialised copy is
  // wiped once written.
  Io sendResponse(TlsConnection& conn, Response& out, const Request& request, bool closeAfter,
                  std::optional<ErrorCode>& code) const {
    GuardedBody guarded = guardResponse(out, request.correlationId, request.vaultErrors);
    WipeOnExit wipeGuarded(guarded.bytes);
    if (guarded.blocked) code = egress_errc::kBlocked;
    std::string wire = renderResponse(out, guarded.bytes, request.correlationId, closeAfter);
    const Io written = conn.writeAll(wire, Clock::now() + state_.limits.requestDeadline);
    secureWipe(wire.data(), wire.size());
    return written;
  }

  void logRequest(const Request& request, const Route* route, const Response& out, std::optional<ErrorCode> code,
                  Clock::time_point started) const {
    json fields = {{"listener", listenerName(state_.kind)},
                   {"method", request.method.empty() ? "-" : request.method},
                   {"route", route != nullptr ? route->path : "unmatched"},
                   {"status", out.status},
                   {"correlation_id", request.correlationId},
                   {"duration_ms", std::chrono::duration<double, std::milli>(Clock::now() - started).count()}};
    if (!request.identity.spiffeId.empty()) fields["identity"] = request.identity.spiffeId;
    if (code) fields["code"] = *code;
    logEvent(out.status >= 500 ? LogLevel::Error : LogLevel::Info, "http_request", std::move(fields));
  }

  // Labels are the route's pattern (a fixed vocabulary; "unmatched" for any
  // other path), the status and the error code: never a path, identity or value.
  void countRequest(const Route* route, const Response& out, std::optional<ErrorCode> code,
                    Clock::time_point started) const {
    if (state_.metrics == nullptr) return;
    const std::string listener = listenerName(state_.kind);
    const std::string routeName = route != nullptr ? route->method + " " + route->path : "unmatched";
    state_.metrics->add("sealgate_http_requests_total", "requests answered, by listener, route and status",
                        {{"listener", listener}, {"route", routeName}, {"status", std::to_string(out.status)}});
    state_.metrics->observe("sealgate_http_request_duration_seconds",
                            "time from a request's first byte to its answer written, by listener and route",
                            {{"listener", listener}, {"route", routeName}},
                            std::chrono::duration<double>(Clock::now() - started).count());
    if (code) {
      state_.metrics->add("sealgate_http_errors_total", "requests answered with an error, by listener and code",
                          {{"listener", listener}, {"code", errorCodeName(*code)}});
    }
  }

  HandlerResult dispatch(TlsConnection& conn, const http::RequestHead& head, BodyReader& body, Request& request,
                         const Route*& route, bool& closeAfter) {
    try {
      X509* peer = conn.peerCertificate();
      if (peer == nullptr) return HttpError{ErrorCode::Unauthenticated, "a client certificate is required"};
      auto identity = identityFromCertificate(peer);
      if (!identity) return HttpError{identity.error().code, identity.error().message};
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
        return HttpError{ErrorCode::WrongListener, state_.kind == ListenerKind::Pep
                                                       ? "admin identities use the admin listener"
                                                       : "service identities use the PEP listener"};
      }
      if (pathMatch == nullptr) return HttpError{ErrorCode::NotFound, "no such endpoint"};
      if (route == nullptr) return HttpError{ErrorCode::MethodNotAllowed, "method not allowed on this endpoint"};
      if (state_.kind == ListenerKind::Admin) {
        if (auto refused = crossSiteRefusal(request)) return *refused;
      }
      if (route->access == Access::Admin && !route->roles.empty() && !route->roles.count(request.identity.role)) {
        return HttpError{ErrorCode::Forbidden, "this endpoint needs one of the roles: " + joinRoles(route->roles)};
      }
      if (route->takesJsonBody) {
        const auto contentType = head.get("content-type");
        if (!contentType || !isJsonContentType(*contentType)) {
          closeAfter = true;
          return HttpError{ErrorCode::UnsupportedMediaType, "the body must be application/json"};
        }
        std::string raw;
        if (auto err = body.read(raw, closeAfter)) return *err;
        auto parsed = parseJson(raw);
        if (!parsed)
          return HttpError{parsed.error().code, "the body is not acceptable JSON: " + parsed.error().message};
        request.body = std::move(*parsed);
        if (!request.body.is_object()) return HttpError{ErrorCode::BadJson, "the body must be a JSON object"};
      } else if (route->vault) {
        // Vault reads a JSON body whatever the content type says, and none at all.
        std::string raw;
        if (auto err = body.read(raw, closeAfter)) return *err;
        if (raw.find_first_not_of(" \t\r\n") != std::string::npos) {
          auto parsed = parseJson(raw);
          secureWipe(raw.data(), raw.size());  // KV writes carry secret values
          if (!parsed) return HttpError{parsed.error().code, "failed to parse JSON input: " + parsed.error().message};
          request.body = std::move(*parsed);
          if (!request.body.is_object()) return HttpError{ErrorCode::BadJson, "failed to parse JSON input"};
        } else {
          request.body = json::object();
        }
      }
      return route->handler(request);
    } catch (const std::exception& e) {
      closeAfter = true;
      logEvent(LogLevel::Error, "handler_exception", {{"correlation_id", request.correlationId}, {"what", e.what()}});
      return HttpError{ErrorCode::Internal, "internal error"};
    }
  }

  // A browser sends its client certificate to any page that asks, so a page on
  // another origin could make it call the admin API (CSRF). A state-changing
  // request that says where it comes from must come from the admin listener's own
  // origin: Origin, when present, is exactly https://<Host> (Host was checked
  // against the listener's names), and Sec-Fetch-Site, when present, is
  // "same-origin". A request with neither (the CLI, curl, Vault clients) passes.
  static std::optional<HttpError> crossSiteRefusal(const Request& request) {
    if (request.method == "GET" || request.method == "HEAD") return std::nullopt;
    if (auto origin = request.headers.find("origin"); origin != request.headers.end()) {
      if (request.host.empty() || origin->second != sameOrigin(request.host)) {
        return HttpError{ErrorCode::CsrfRejected, "a state-changing call from another origin is refused"};
      }
    }
    if (auto site = request.headers.find("sec-fetch-site");
        site != request.headers.end() && site->second != "same-origin") {
      return HttpError{ErrorCode::CsrfRejected, "a state-changing call from another site is refused"};
    }
    return std::nullopt;
  }

  // The origin a browser names for a page of this host: https://host[:port], the
  // default port left out as browsers do.
  static std::string sameOrigin(const std::string& host) {
    constexpr std::string_view kDefaultPort = ":443";
    std::string_view h = host;
    if (h.size() > kDefaultPort.size() && h.substr(h.size() - kDefaultPort.size()) == kDefaultPort) {
      h.remove_suffix(kDefaultPort.size());
    }
    std::string out = "https://";
    for (char c : h) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
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

  const ListenerState& state_;
};

// The TLS context: TLS 1.2+, ECDHE AEAD suites, a client certificate that
// chains to ca_file required, no session resumption (each connection verifies
// its certificate against the current CRLs), no renegotiation.
Result<SSL_CTX*> makeServerContext(const ListenerConfig& config, EVP_PKEY* tlsKey) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  auto fail = [&](const std::string& what) -> Error {
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return makeError(ErrorCode::TlsConfig, what);
  };
  if (ctx == nullptr) return makeError(ErrorCode::TlsConfig, "cannot create a TLS context");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) return fail("no usable TLS 1.2 cipher");
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_load_verify_locations(ctx, config.caFile.c_str(), nullptr) != 1) {
    return fail("cannot load the client CA file " + config.caFile);
  }
  if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.caFile.c_str()))
    SSL_CTX_set_client_CA_list(ctx, names);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_verify_depth(ctx, 4);
  if (SSL_CTX_use_certificate_chain_file(ctx, config.certFile.c_str()) != 1) {
    return fail("cannot load the server certificate " + config.certFile);
  }
  if (SSL_CTX_use_PrivateKey(ctx, tlsKey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return fail("the server certificate does not match the HSM's TLS key");
  }
  return ctx;
}

// The names a Host header may carry: the public URL's host and the server
// certificate's DNS and IP subject alternative names.
Result<void> addCertificateNames(const std::string& certFile, http::ServerNames& names) {
  BIO* bio = BIO_new_file(certFile.c_str(), "r");
  X509* cert = bio != nullptr ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
  if (bio != nullptr) BIO_free(bio);
  ERR_clear_error();
  if (cert == nullptr) return makeError(ErrorCode::TlsConfig, "cannot read the server certificate " + certFile);
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
    if (n->type == GEN_DNS) {
      const auto* s = n->d.dNSName;
      names.addName(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                static_cast<std::size_t>(ASN1_STRING_length(s))));
    } else if (n->type == GEN_IPADD) {
      const auto* s = n->d.iPAddress;
      char text[64] = "";
      const int len = ASN1_STRING_length(s);
      if (len == 4 || len == 16) {
        inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), text, sizeof text);
        names.addName(text);
      }
    }
  }
  if (sans != nullptr) GENERAL_NAMES_free(sans);
  X509_free(cert);
  return Ok{};
}

struct BaseUrl {
  std::string base;  // Request::publicBase
  std::string host;  // a name Host may carry, "" for none
  std::uint16_t port = 443;
};

// pep.public_url (admin.public_url), or, where configuration allows none (development
// mode), https://<listen host>:<bound port>. A wildcard listen address names no
// URL: DPoP proofs then never match (fail closed).
Result<BaseUrl> publicBaseUrl(const ListenerConfig& config, std::uint16_t boundPort) {
  if (!config.publicUrl.empty()) {
    SEALGATE_ASSIGN_OR_RETURN(auto url, parsePublicUrl(config.publicUrl));
    return BaseUrl{url.base, url.host, url.port};
  }
  const auto colon = config.listen.rfind(':');
  std::string host = colon == std::string::npos ? config.listen : config.listen.substr(0, colon);
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::" || host == "*")
    return BaseUrl{"", "", boundPort};
  const std::string bare = host.front() == '[' ? host.substr(1, host.size() - 2) : host;
  return BaseUrl{"https://" + host + ":" + std::to_string(boundPort), bare, boundPort};
}

}  // namespace

// ---- listener --------------------------------------------------------------------------

Result<std::unique_ptr<Listener>> Listener::create(ListenerKind kind, const ListenerConfig& config,
                                                   const Limits& limits, EVP_PKEY* tlsKey, std::vector<Route> routes,
                                                   Metrics* metrics) {
  SEALGATE_ASSIGN_OR_RETURN(auto trust, ClientTrust::create(config.caFile, config.crlFile, listenerName(kind)));
  SEALGATE_ASSIGN_OR_RETURN(auto tls, makeTlsContext(config, tlsKey));
  std::unique_ptr<Listener> l(new Listener());
  l->kind_ = kind;
  l->tls_ = tls;

  auto state = std::make_shared<ListenerState>(ListenerState{kind, limits, std::move(routes), {}, {}, metrics});
  FrontEndSettings settings;
  settings.listen = config.listen;
  settings.name = listenerName(kind);
  settings.maxConnections = limits.maxConnections;
  settings.maxPerPeer = limits.maxConnectionsPerPeer;
  settings.workers = limits.workerThreads;
  settings.handshakeTimeout = limits.handshakeTimeout;
  SEALGATE_ASSIGN_OR_RETURN(
      auto frontEnd, TlsFrontEnd::create(settings, tls.get(), std::move(trust),
                                         [s = state.get()](TlsConnection& conn) { Dispatcher(*s).serve(conn); }));
  l->frontEnd_ = std::move(frontEnd);

  // Host names and the DPoP base URL come from configuration only.
  SEALGATE_TRY(addCertificateNames(config.certFile, state->names));
  state->names.addPort(l->frontEnd_->port());
  auto base = publicBaseUrl(config, l->frontEnd_->port());
  if (!base) return std::move(base).takeError();
  state->publicBase = base->base;
  if (!base->host.empty()) state->names.addName(base->host);
  state->names.addPort(base->port);
  l->state_ = state;
  return l;
}

Listener::~Listener() { stop(); }

Result<std::string> certificateFingerprint(const std::string& certFile) {
  BioPtr bio(BIO_new_file(certFile.c_str(), "r"));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!cert || X509_digest(cert.get(), EVP_sha256(), digest, &len) != 1) {
    return makeError(ErrorCode::TlsConfig, "cannot read the certificate " + certFile);
  }
  return hexLower(std::span<const std::uint8_t>(digest, len));
}

Result<TlsContext> Listener::makeTlsContext(const ListenerConfig& config, EVP_PKEY* tlsKey) {
  SEALGATE_ASSIGN_OR_RETURN(auto ctx, makeServerContext(config, tlsKey));
  return TlsContext(ctx, SSL_CTX_free);
}

void Listener::useTlsContext(TlsContext context) {
  frontEnd_->setContext(context.get());
  tls_ = std::move(context);
}

void Listener::start() { frontEnd_->start(); }

Listener::ConnectionStats Listener::connectionStats() const {
  if (!frontEnd_) return {};
  const auto s = frontEnd_->stats();
  return ConnectionStats{s.accepted,        s.refusedAtCap,      s.refusedPerPeer,
                         s.handshakeFailed, s.handshakeTimedOut, s.handshakeFailures};
}

void Listener::stop() {
  if (frontEnd_) {
    const auto s = frontEnd_->stats();
    logEvent(LogLevel::Info, "listener_stopping",
             {{"listener", listenerName(kind_)},
              {"connections_total", s.accepted},
              {"connections_refused_at_cap", s.refusedAtCap},
              {"connections_refused_per_peer", s.refusedPerPeer},
              {"handshakes_failed", s.handshakeFailed},
              {"handshakes_timed_out", s.handshakeTimedOut}});
    frontEnd_->stop();  // no new connections; in-flight requests finish
    frontEnd_.reset();
  }
}

std::uint16_t Listener::port() const { return frontEnd_ ? frontEnd_->port() : 0; }

}  // namespace sealgate::appliance
