#include "appliance/connectors/rest_connector.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/String.h>
#include <Poco/URI.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "appliance/connectors/action_fields.h"
#include "appliance/connectors/socket_deadline.h"
#include "core/json_parse.h"
#include "core/slot_template.h"
#include "core/wipe.h"

namespace sealgate::connectors {

using nlohmann::json;

namespace {

const std::set<std::string> kMethods{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};
// Headers the connector owns: framing and routing are never the caller's.
const std::set<std::string> kReservedHeaders{
    "host", "content-length", "transfer-encoding",   "connection",      "upgrade",
    "te",   "trailer",        "proxy-authorization", "proxy-connection"};

// Iterative: `json` is the caller's document (depth-capped by parseJson, but no
// walker relies on that for its stack).
Result<void> forbidSlotsInKeys(const json& root) {
  std::vector<const json*> todo{&root};
  while (!todo.empty()) {
    const json* v = todo.back();
    todo.pop_back();
    if (v->is_object()) {
      for (const auto& [k, item] : v->items()) {
        SEALGATE_TRY(forbidSlots(k, "JSON object keys"));
        if (item.is_structured()) todo.push_back(&item);
      }
    } else if (v->is_array()) {
      for (const auto& item : *v) {
        if (item.is_structured()) todo.push_back(&item);
      }
    }
  }
  return {};
}

bool headerNameOk(const std::string& n) {
  if (n.empty() || n.size() > 128) return false;
  return std::all_of(n.begin(), n.end(), [](unsigned char c) {
    return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
}

struct Target {
  std::string host;  // lowercase
  std::uint16_t port = 443;
  std::string path;   // as written, "/" when empty
  std::string query;  // after '?', may hold placeholders
  bool hasQuery = false;
};

// Literal text that goes on the request line or into a header as written: no
// control characters, spaces, DEL or non-ASCII (CR LF would start a new header
// line, e.g. a second Host; slot bytes are encoded or checked separately).
bool printableAscii(std::string_view text, bool spaceAllowed) {
  return std::all_of(text.begin(), text.end(), [&](unsigned char c) {
    return (c > 0x20 && c < 0x7f) || (spaceAllowed && (c == ' ' || c == '\t'));
  });
}

Result<Target> parseTarget(const std::string& url) {
  if (!printableAscii(url, false)) return invalidAction("'url' holds a space, control or non-ASCII character");
  Target t;
  const std::size_t q = url.find('?');
  const std::string base = url.substr(0, q);
  if (q != std::string::npos) {
    t.query = url.substr(q + 1);
    t.hasQuery = true;
  }
  if (auto r = forbidSlots(base, "the URL's scheme, host, port or path (only its query)"); !r) {
    return std::move(r).takeError();
  }
  if (url.find('#') != std::string::npos) return invalidAction("the URL must not carry a fragment");
  try {
    Poco::URI uri(base);
    if (uri.getScheme() != "https") return invalidAction("the rest connector speaks HTTPS only");
    if (!uri.getUserInfo().empty()) return invalidAction("credentials go in headers, not in the URL");
    // Only [a-z0-9.-:]: a NUL (JSON \u0000) would end the name the resolver sees
    // after the allow-list had compared the whole string.
    SEALGATE_ASSIGN_OR_RETURN(auto host, normalizeHost(uri.getHost(), "the URL's host"));
    t.host = std::move(host);
    t.port = uri.getPort();
    t.path = uri.getPathEtc().empty() ? "/" : uri.getPathEtc();
  } catch (const Poco::Exception&) {
    return invalidAction("'url' is not an absolute https:// URL");
  }
  if (t.host.empty()) return invalidAction("'url' names no host");
  return t;
}

Poco::Net::Context::Ptr clientContext(const std::string& caFile) {
  // One TLS context per CA bundle, shared by every request (it is thread-safe once built).
  static std::mutex mu;
  static std::map<std::string, Poco::Net::Context::Ptr> contexts;
  std::lock_guard lock(mu);
  auto& ctx = contexts[caFile];
  if (!ctx) {
    Poco::Net::Context::Params p;
    p.caLocation = caFile;
    p.loadDefaultCAs = caFile.empty();
    p.verificationMode = Poco::Net::Context::VERIFY_STRICT;
    ctx = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, p);
    ctx->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
  }
  return ctx;
}

// Poco connects lazily on the first request; open() connects (and handshakes)
// now, so the deadline can be armed on the socket before anything is sent. The
// connect and handshake themselves are bounded by the session's timeouts.
class Session : public Poco::Net::HTTPSClientSession {
 public:
  using HTTPSClientSession::HTTPSClientSession;
  void open() { reconnect(); }
};

// A rendered value that would end a header line is refused (header injection).
bool breaksHeader(const Secret& value) {
  auto b = value.exposeSecretBytes();
  return std::any_of(b.begin(), b.end(), [](std::uint8_t c) { return c == '\r' || c == '\n' || c == 0; });
}

std::string_view view(const Secret& s) {
  auto b = s.exposeSecretBytes();
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Headers that describe the peer's raw body: its length (the value's length
// would show through the redaction), a range of it, or a digest of it (a guess at
// the value could be tested offline against it). The result's body is the
// scrubbed text, so none of them would be true of it; they are dropped.
bool describesTheRawBody(const std::string& name) {
  static constexpr const char* kDropped[] = {"Content-Length", "Content-Range", "Content-MD5", "Digest",
                                             "Content-Digest", "Repr-Digest",   "ETag"};
  return std::any_of(std::begin(kDropped), std::end(kDropped),
                     [&](const char* d) { return Poco::icompare(name, std::string(d)) == 0; });
}

}  // namespace

Result<std::set<std::string>> RestConnector::validate(const json& action, const ConnectorContext& context) const {
  if (auto r = onlyFields(action, "rest", {"connector", "method", "url", "headers", "body", "json"},
                          {"connector", "method", "url"});
      !r) {
    return std::move(r).takeError();
  }
  if (action.contains("body") && action.contains("json")) return invalidAction("send 'body' or 'json', not both");
  if (!action["method"].is_string() || !kMethods.count(action["method"].get<std::string>())) {
    return invalidAction("'method' must be one of GET, HEAD, POST, PUT, PATCH, DELETE");
  }
  SEALGATE_TRY(forbidSlots(action["method"].get<std::string>(), "the method"));
  if (!action["url"].is_string()) return invalidAction("'url' must be a string");
  SEALGATE_ASSIGN_OR_RETURN(auto target, parseTarget(action["url"]));
  if (!egressHostAllowed(context.rules, target.host, target.port)) {
    return makeError(connector_errc::kDestinationForbidden, "the tenant's policy does not allow this destination");
  }
  std::set<std::string> names;
  auto collect = [&](const std::string& text) -> Result<void> {
    SEALGATE_ASSIGN_OR_RETURN(auto t, SlotTemplate::parse(text));
    names.insert(t.slotNames().begin(), t.slotNames().end());
    return {};
  };
  if (target.hasQuery) SEALGATE_TRY(collect(target.query));
  if (action.contains("headers")) {
    if (!action["headers"].is_object() || action["headers"].size() > 64) {
      return invalidAction("'headers' must be an object of at most 64 string values");
    }
    for (const auto& [k, v] : action["headers"].items()) {
      SEALGATE_TRY(forbidSlots(k, "header names"));
      std::string lower = k;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      if (!headerNameOk(k) || kReservedHeaders.count(lower)) {
        return invalidAction("a header name is not a token, or names a header the connector sets itself");
      }
      if (!v.is_string()) return invalidAction("header values must be strings");
      if (!printableAscii(v.get<std::string>(), true)) {
        return invalidAction("a header value holds a control or non-ASCII character");
      }
      SEALGATE_TRY(collect(v.get<std::string>()));
    }
  }
  if (action.contains("body")) {
    if (!action["body"].is_string()) return invalidAction("'body' must be a string");
    SEALGATE_TRY(collect(action["body"].get<std::string>()));
  }
  if (action.contains("json")) {
    // Bounded before anything walks or serialises it (dump() recurses): the
    // request parser caps depth already, but a connector trusts no caller.
    if (jsonDepth(action["json"]) > kMaxJsonDepth) {
      return invalidAction("'json' nests deeper than " + std::to_string(kMaxJsonDepth) + " arrays/objects");
    }
    // Slots in string values only (JSON-escaped when substituted), never in keys.
    SEALGATE_TRY(forbidSlotsInKeys(action["json"]));
    SEALGATE_TRY(collect(action["json"].dump()));
  }
  return names;
}

namespace {

// The action's slots rendered for one request. Slot bytes stay in Secrets here;
// the copies that must pass through Poco's request object are wiped by
// wipeRequest.
struct RenderedSlots {
  std::vector<std::pair<std::string, Secret>> headers;  // name, rendered value
  Secret query;                                         // percent-encoded; used when the URL has a query
  Secret body;                                          // the body or the JSON, when the action sends one
  bool hasBody = false;
};

Result<std::vector<std::pair<std::string, Secret>>> renderHeaders(const json& action, const SlotValues& slots) {
  std::vector<std::pair<std::string, Secret>> headers;
  if (!action.contains("headers")) return headers;
  for (const auto& [k, v] : action["headers"].items()) {
    SEALGATE_ASSIGN_OR_RETURN(auto t, SlotTemplate::parse(v.get<std::string>()));
    SEALGATE_ASSIGN_OR_RETURN(auto value, t.render(slots));
    if (breaksHeader(value)) {
      return makeError(connector_errc::kSecretUnusable, "a slot value would break a header line (CR, LF or NUL)");
    }
    headers.emplace_back(k, std::move(value));
  }
  return headers;
}

// 'body' as written, or 'json' serialised with its slots JSON-escaped.
Result<Secret> renderBody(const json& action, const SlotValues& slots) {
  if (action.contains("json") && jsonDepth(action["json"]) > kMaxJsonDepth) {
    return invalidAction("'json' nests deeper than " + std::to_string(kMaxJsonDepth) + " arrays/objects");
  }
  // A placeholder has no character dump() escapes, so it survives serialising intact.
  SEALGATE_ASSIGN_OR_RETURN(
      auto t, SlotTemplate::parse(action.contains("json") ? action["json"].dump() : action["body"].get<std::string>()));
  return t.render(slots, action.contains("json") ? SlotEncoding::JsonString : SlotEncoding::Raw);
}

// Headers, then the query, then the body: the first refusal is returned.
Result<RenderedSlots> renderSlots(const json& action, const Target& target, const SlotValues& slots) {
  RenderedSlots out;
  SEALGATE_ASSIGN_OR_RETURN(out.headers, renderHeaders(action, slots));
  if (target.hasQuery) {
    SEALGATE_ASSIGN_OR_RETURN(auto t, SlotTemplate::parse(target.query));
    SEALGATE_ASSIGN_OR_RETURN(out.query, t.render(slots, SlotEncoding::Percent));
  }
  out.hasBody = action.contains("body") || action.contains("json");
  if (out.hasBody) {
    SEALGATE_ASSIGN_OR_RETURN(out.body, renderBody(action, slots));
  }
  return out;
}

// The URI and the slot-bearing headers of `request` overwritten in place:
// same-length assignment reuses each string's buffer, so the bytes are
// overwritten. Called once the request is sent, or on any failure before that.
void wipeRequest(Poco::Net::HTTPRequest& request, const std::vector<std::pair<std::string, Secret>>& headers) {
  std::string uri = request.getURI();
  request.setURI(std::string(uri.size(), '\0'));
  secureWipe(uri.data(), uri.size());
  for (const auto& [name, value] : headers) {
    if (request.has(name)) request.set(name, std::string(value.size(), '\0'));
  }
}

// The target, the rendered slots and the connector's own headers put into
// `request`; every temporary copy of slot bytes is wiped here.
void fillRequest(Poco::Net::HTTPRequest& request, const Target& target, const RenderedSlots& slots, bool jsonBody) {
  {
    std::string uri = target.path;
    if (target.hasQuery) uri.append("?").append(view(slots.query));
    request.setURI(uri);
    secureWipe(uri.data(), uri.size());
  }
  for (const auto& [name, value] : slots.headers) {
    std::string copy(view(value));
    request.set(name, copy);
    secureWipe(copy.data(), copy.size());
  }
  request.setHost(target.host, target.port);
  request.set("User-Agent", "sealgate-rest-connector");
  if (slots.hasBody) request.setContentLength(static_cast<std::streamsize>(slots.body.size()));
  if (jsonBody && !request.has("Content-Type")) request.setContentType("application/json");
}

// What is left of the whole action's time, at least 1 ms.
Poco::Timespan timeLeft(SocketDeadline::Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - SocketDeadline::Clock::now());
  return Poco::Timespan(std::max<std::int64_t>(left.count(), 1000));
}

Error peerTimeout() {
  return makeError(connector_errc::kPeerTimeout, "the peer did not answer within the connector timeout");
}

// Connect and handshake now (each wait bounded by the session's timeout; the
// chain and the host name are verified), classifying a failure.
Result<void> connectSession(Session& session) {
  try {
    session.open();
  } catch (const Poco::Net::SSLException&) {
    return makeError(connector_errc::kPeerTlsFailed, "the peer's TLS certificate or handshake was refused");
  } catch (const Poco::TimeoutException&) {
    return peerTimeout();
  } catch (const Poco::Exception&) {
    return makeError(connector_errc::kPeerUnreachable, "cannot connect to the peer");
  }
  return {};
}

// Reads the answer's body to its end into `received`, each read bounded by what
// is left of the deadline. Over `maxBytes` the answer is refused. The read buffer
// is wiped on every exit, a throw included; the caller wipes `received`. Poco's
// exceptions propagate.
Result<void> readCappedBody(Session& session, std::istream& in, std::size_t maxBytes,
                            SocketDeadline::Clock::time_point deadline, std::string& received) {
  std::string buf(16384, '\0');
  WipeOnExit wipeBuf(buf);
  while (true) {
    session.socket().setReceiveTimeout(timeLeft(deadline));
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    if (n == 0) break;
    if (received.size() + n > maxBytes) {
      return makeError(connector_errc::kPeerResponseTooLarge, "the peer's answer exceeds the connector's size cap");
    }
    received.append(buf.data(), n);
  }
  return {};
}

// The result: the status, the headers that stay true of the scrubbed body, and
// the body, all as peer text.
json responseResult(const Poco::Net::HTTPResponse& response, const std::string& received) {
  json responseHeaders = json::object();
  for (const auto& [k, v] : response) {
    if (!describesTheRawBody(k)) responseHeaders[k] = peerText(v);
  }
  return {
      {"status", static_cast<int>(response.getStatus())}, {"headers", responseHeaders}, {"body", peerText(received)}};
}

// Sends the request on the connected session (wiping its slot bytes once sent)
// and reads the answer, all under the armed deadline. Poco's exceptions
// propagate to exchangeUnderDeadline.
Result<json> sendAndReceive(Session& session, Poco::Net::HTTPRequest& request, const RenderedSlots& slots,
                            const ConnectorContext& context, SocketDeadline::Clock::time_point deadline,
                            const SocketDeadline& guard, int armedFd) {
  std::ostream& out = session.sendRequest(request);
  wipeRequest(request, slots.headers);
  if (session.socket().impl()->sockfd() != armedFd) {
    return makeError(connector_errc::kPeerError, "the connection changed under the request deadline");
  }
  if (slots.hasBody) out << view(slots.body);
  Poco::Net::HTTPResponse response;
  session.setTimeout(timeLeft(deadline));
  std::istream& in = session.receiveResponse(response);
  // The peer's answer may echo a slot value: wiped on every exit, a throw
  // mid-body (a timeout) included.
  std::string received;
  WipeOnExit wipeReceived(received);
  SEALGATE_TRY(readCappedBody(session, in, context.maxResponseBytes, deadline, received));
  if (guard.expired()) return peerTimeout();
  return responseResult(response, received);
}

// Connects, arms the whole-action deadline on the socket, then sends and
// receives. Poco's exceptions before the exchange propagate to the caller.
Result<json> exchangeUnderDeadline(Poco::Net::HTTPRequest& request, const Target& target, const RenderedSlots& slots,
                                   const ConnectorContext& context, SocketDeadline::Clock::time_point deadline) {
  Session session(target.host, target.port, clientContext(context.caFile));
  // Keep-alive on the session object, or sendRequest() would close the socket
  // open() made (and the deadline armed on it) and connect again unguarded; the
  // peer is told "Connection: close" and the session dies with this action.
  session.setKeepAlive(true);
  request.setKeepAlive(false);
  session.setTimeout(timeLeft(deadline));
  if (auto connected = connectSession(session); !connected) {
    wipeRequest(request, slots.headers);
    return std::move(connected).takeError();
  }
  const int armedFd = session.socket().impl()->sockfd();
  SocketDeadline guard(armedFd, deadline);
  try {
    return sendAndReceive(session, request, slots, context, deadline, guard, armedFd);
  } catch (const Poco::TimeoutException&) {
    wipeRequest(request, slots.headers);
    return peerTimeout();
  } catch (const Poco::Exception&) {
    wipeRequest(request, slots.headers);
    if (guard.expired()) return peerTimeout();
    return makeError(connector_errc::kPeerError, "the exchange with the peer failed");
  }
}

}  // namespace

Result<json> RestConnector::run(const json& action, const ConnectorContext& context, const SlotValues& slots) {
  const auto deadline = SocketDeadline::Clock::now() + context.timeout;
  SEALGATE_ASSIGN_OR_RETURN(auto target, parseTarget(action["url"]));
  SEALGATE_ASSIGN_OR_RETURN(auto rendered, renderSlots(action, target, slots));
  // Slot bytes land in Poco's request object (std::string): wiped by
  // overwriting in place before it is destroyed (wipeRequest).
  Poco::Net::HTTPRequest request(action["method"].get<std::string>(), "/", Poco::Net::HTTPMessage::HTTP_1_1);
  try {
    fillRequest(request, target, rendered, action.contains("json"));
    return exchangeUnderDeadline(request, target, rendered, context, deadline);
  } catch (const Poco::Exception&) {
    wipeRequest(request, rendered.headers);
    return makeError(connector_errc::kPeerError, "the request could not be sent");
  }
}

}  // namespace sealgate::connectors
