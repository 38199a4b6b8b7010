#include "appliance/cli/admin_client.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/URI.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <istream>

#include "core/json_parse.h"
#include "core/wipe.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxAnswerBytes = 4 << 20;
constexpr long kTimeoutSeconds = 30;

Error clientError(const std::string& what) { return makeError(ErrorCode::AdminClient, what); }

}  // namespace

Result<AdminClient> AdminClient::create(const AdminTls& tls) {
  for (const auto& [what, path] :
       {std::pair{"--cert", &tls.certFile}, {"--key", &tls.keyFile}, {"--ca", &tls.caFile}}) {
    if (path->empty() || ::access(path->c_str(), R_OK) != 0) return clientError(std::string("cannot read ") + what);
  }
  AdminClient c;
  try {
    const Poco::URI uri(tls.url);
    if (uri.getScheme() != "https" || uri.getHost().empty() || !uri.getUserInfo().empty() ||
        (uri.getPath() != "" && uri.getPath() != "/") || !uri.getRawQuery().empty() || !uri.getFragment().empty()) {
      return clientError("--admin must be https://host[:port] (the admin listener)");
    }
    c.host_ = uri.getHost();
    c.port_ = uri.getPort();
    Poco::Net::Context::Params p;
    p.caLocation = tls.caFile;
    p.certificateFile = tls.certFile;
    p.privateKeyFile = tls.keyFile;
    p.verificationMode = Poco::Net::Context::VERIFY_STRICT;
    p.loadDefaultCAs = false;
    p.cipherList = "ECDHE+AESGCM:ECDHE+CHACHA20";
    c.context_ = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, p);
    c.context_->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
    if (SSL_CTX_check_private_key(c.context_->sslContext()) != 1) {
      ERR_clear_error();
      return clientError("--key is not the private key of --cert");
    }
  } catch (const Poco::Exception& e) {
    // displayText() names the file or the OpenSSL reason, never key material.
    return clientError("cannot set up the TLS client: " + e.displayText());
  }
  return c;
}

Error AdminClient::answerError(int status, const std::string& body) {
  const std::string http = "HTTP " + std::to_string(status);
  auto parsed = parseJson(body);
  if (parsed && parsed->is_object() && parsed->contains("error") && (*parsed)["error"].is_object()) {
    const json& e = (*parsed)["error"];
    const std::string name = e.value("code", "");
    std::string message = e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
    if (auto code = parseErrorCode(name); code && isApiCode(*code)) {
      std::string where = http;
      if (e.contains("correlation_id") && e["correlation_id"].is_string()) {
        where += ", correlation id " + e["correlation_id"].get<std::string>();
      }
      return makeError(*code, message + " (" + where + ")");
    }
  }
  return clientError("the admin listener answered " + http + " without an API error");
}

Result<json> AdminClient::exchange(const std::string& method, const std::string& path, const std::string* body,
                                   int alsoAccepted) const {
  try {
    Poco::Net::HTTPSClientSession session(host_, port_, context_);
    session.setTimeout(Poco::Timespan(kTimeoutSeconds, 0));
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    req.set("Accept", "application/json");
    if (body != nullptr) {
      req.setContentType("application/json");
      req.setContentLength64(static_cast<std::int64_t>(body->size()));
      session.sendRequest(req) << *body;
    } else {
      session.sendRequest(req);
    }
    Poco::Net::HTTPResponse resp;
    std::istream& in = session.receiveResponse(resp);
    std::string text;
    char buf[8192];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      text.append(buf, static_cast<std::size_t>(in.gcount()));
      if (text.size() > kMaxAnswerBytes) return clientError("the admin listener's answer is too large");
    }
    const int status = static_cast<int>(resp.getStatus());
    if ((status < 200 || status > 299) && status != alsoAccepted) return answerError(status, text);
    auto parsed = parseJson(text);
    if (!parsed || !parsed->is_object()) return clientError("the admin listener's answer is not a JSON object");
    return std::move(*parsed);
  } catch (const Poco::Exception& e) {
    return clientError("cannot reach the admin listener at " + host_ + ":" + std::to_string(port_) + ": " +
                       e.displayText());
  }
}

Result<json> AdminClient::get(const std::string& path) const { return exchange("GET", path, nullptr); }

Result<json> AdminClient::getAccepting(const std::string& path, int status) const {
  return exchange("GET", path, nullptr, status);
}

Result<json> AdminClient::post(const std::string& path, const json& body) const {
  // An enrolment's activation carries the one-time secret: no copy of it stays.
  std::string text = body.dump();
  auto answer = exchange("POST", path, &text);
  wipeString(text);
  return answer;
}

Result<json> AdminClient::del(const std::string& path) const { return exchange("DELETE", path, nullptr); }

}  // namespace sealgate::appliance
