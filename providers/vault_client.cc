#include "providers/vault_client.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/URI.h>

#include <fstream>
#include <istream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/json_parse.h"
#include "providers/kv_store.h"

namespace sealgate::providers {

using nlohmann::json;

struct VaultKvClient::Tls {
  Poco::Net::Context::Ptr ctx;
};

namespace {

constexpr std::size_t kMaxReply = 1 << 20;

Error unavailable(const std::string& why) { return makeError(provider_errc::kUnavailable, "the Vault server " + why); }
Error invalidSettings(const std::string& why) { return makeError(ErrorCode::ConfigInvalid, "vault client: " + why); }

Result<Secret> readSecretFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return unavailable("credential file cannot be read");
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  auto s = Secret::copyFrom(line);
  secureWipe(line.data(), line.size());
  return s;
}

std::string asString(const Secret& s) {
  auto b = s.exposeSecretBytes();
  return std::string(b.begin(), b.end());
}

}  // namespace

VaultKvClient::VaultKvClient(VaultClientSettings s) : settings_(std::move(s)) {}
VaultKvClient::~VaultKvClient() = default;

Result<std::unique_ptr<VaultKvClient>> VaultKvClient::create(const VaultClientSettings& settings) {
  std::unique_ptr<VaultKvClient> c(new VaultKvClient(settings));
  try {
    Poco::URI uri(settings.address);
    if (uri.getScheme() != "https" || uri.getHost().empty() || (!uri.getPath().empty() && uri.getPath() != "/")) {
      return invalidSettings("address must be https://host:port");
    }
    c->host_ = uri.getHost();
    c->port_ = uri.getPort();
  } catch (const Poco::Exception&) {
    return invalidSettings("address must be https://host:port");
  }
  if (settings.caFile.empty()) return invalidSettings("a CA bundle to pin is required");
  const bool token = !settings.tokenFile.empty();
  const bool appRole = !settings.roleId.empty() || !settings.secretIdFile.empty();
  if (token == appRole) return invalidSettings("exactly one of token auth or AppRole auth");
  if (appRole && (settings.roleId.empty() || settings.secretIdFile.empty())) {
    return invalidSettings("AppRole needs role_id and secret_id_file");
  }
  if (settings.certFile.empty() != settings.keyFile.empty())
    return invalidSettings("cert_file and key_file go together");
  if (settings.mounts.empty()) return invalidSettings("no mounts");
  if (settings.maxAttempts == 0 || settings.maxAttempts > 10) return invalidSettings("max_attempts must be 1..10");
  try {
    Poco::Net::Context::Params p;
    p.caLocation = settings.caFile;
    p.verificationMode = Poco::Net::Context::VERIFY_STRICT;
    p.loadDefaultCAs = false;  // pinned: only this bundle
    p.certificateFile = settings.certFile;
    p.privateKeyFile = settings.keyFile;
    p.cipherList = "ECDHE+AESGCM:ECDHE+CHACHA20";
    c->tls_ = std::make_unique<Tls>();
    c->tls_->ctx = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, p);
    c->tls_->ctx->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
  } catch (const Poco::Exception& e) {
    return invalidSettings("cannot set up TLS: " + e.displayText());
  }
  return c;
}

unsigned VaultKvClient::requestCount() const {
  std::lock_guard lock(mu_);
  return requests_;
}

Result<VaultKvClient::Reply> VaultKvClient::send(const std::string& method, const std::string& path,
                                                 const std::string& body, bool withToken) {
  {
    std::lock_guard lock(mu_);
    ++requests_;
  }
  try {
    Poco::Net::HTTPSClientSession session(host_, port_, tls_->ctx);
    session.setTimeout(
        Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(settings_.timeout).count()));
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    req.setHost(host_, port_);
    if (withToken) {
      std::lock_guard lock(mu_);
      std::string t = asString(token_);
      req.set("X-Vault-Token", t);
      secureWipe(t.data(), t.size());
    }
    if (!settings_.nameSpace.empty()) req.set("X-Vault-Namespace", settings_.nameSpace);
    if (!body.empty()) {
      req.setContentType("application/json");
      req.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    std::ostream& out = session.sendRequest(req);
    if (!body.empty()) out << body;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session.receiveResponse(resp);
    Reply r;
    r.status = static_cast<int>(resp.getStatus());
    char buf[8192];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      r.body.append(buf, static_cast<std::size_t>(in.gcount()));
      if (r.body.size() > kMaxReply) {
        secureWipe(r.body.data(), r.body.size());
        return unavailable("sent an oversized answer");
      }
    }
    return r;
  } catch (const Poco::Exception&) {
    return unavailable("is not reachable");
  }
}

Result<VaultKvClient::Reply> VaultKvClient::sendWithRetries(const std::string& method, const std::string& path,
                                                            const std::string& body, bool withToken) {
  auto delay = settings_.backoff;
  for (unsigned attempt = 1;; ++attempt) {
    auto r = send(method, path, body, withToken);
    const bool retryable = !r || r->status == 429 || r->status >= 500;
    if (!retryable) return r;
    if (attempt >= settings_.maxAttempts) {
      if (r) secureWipe(r->body.data(), r->body.size());
      return unavailable("did not answer successfully after " + std::to_string(attempt) + " attempts");
    }
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

Result<void> VaultKvClient::loadToken() {
  auto t = readSecretFile(settings_.tokenFile);
  if (!t) return t.error();
  std::lock_guard lock(mu_);
  token_ = std::move(*t);
  return Ok{};
}

Result<void> VaultKvClient::login() {
  auto secretId = readSecretFile(settings_.secretIdFile);
  if (!secretId) return secretId.error();
  json body = {{"role_id", settings_.roleId}, {"secret_id", asString(*secretId)}};
  std::string text = body.dump();
  wipeJsonStrings(body);
  auto r = sendWithRetries("POST", "/v1/auth/" + settings_.appRoleMount + "/login", text, false);
  secureWipe(text.data(), text.size());
  if (!r) return r.error();
  json reply = parseJsonOrDiscarded(r->body);
  secureWipe(r->body.data(), r->body.size());
  Result<void> out = unavailable("refused the AppRole login");
  if (r->status == 200 && reply.is_object() && reply.contains("auth") && reply["auth"].is_object() &&
      reply["auth"].contains("client_token") && reply["auth"]["client_token"].is_string()) {
    auto t = Secret::copyFrom(reply["auth"]["client_token"].get_ref<const std::string&>());
    if (t) {
      std::lock_guard lock(mu_);
      token_ = std::move(*t);
      out = Ok{};
    }
  }
  wipeJsonStrings(reply);
  return out;
}

Result<FetchedSecret> VaultKvClient::fetch(const SecretUri& uri, std::optional<std::uint32_t> version,
                                           const FetchContext&) {
  const Error notFound = makeError(provider_errc::kNotFound, "no such secret, version or field");
  auto m = settings_.mounts.find(uri.tenant() + "/" + uri.mount());
  if (m == settings_.mounts.end()) return notFound;
  const auto v = version ? version : uri.version();
  const std::string path =
      "/v1/" + m->second + "/data/" + uri.joinedPath() + (v ? "?version=" + std::to_string(*v) : "");
  bool haveToken;
  {
    std::lock_guard lock(mu_);
    haveToken = !token_.empty();
  }
  const bool appRole = settings_.tokenFile.empty();
  if (!haveToken) SEALGATE_TRY(appRole ? login() : loadToken());
  auto r = sendWithRetries("GET", path, "", true);
  if (r && (r->status == 403 || r->status == 401) && appRole) {
    // The token may have expired: log in again, once.
    SEALGATE_TRY(login());
    r = sendWithRetries("GET", path, "", true);
  }
  if (!r) return r.error();
  json reply = parseJsonOrDiscarded(r->body);
  secureWipe(r->body.data(), r->body.size());
  struct Wipe {
    json& j;
    ~Wipe() { wipeJsonStrings(j); }
  } wipe{reply};
  if (r->status == 404) {
    // Vault: a deleted or destroyed version is a 404 whose body carries its metadata.
    if (reply.is_object() && reply.contains("data") && reply["data"].is_object() &&
        reply["data"].contains("metadata") && reply["data"]["metadata"].is_object()) {
      const json& meta = reply["data"]["metadata"];
      if (meta.value("destroyed", false))
        return makeError(provider_errc::kVersionDestroyed, "the version is destroyed");
      if (!meta.value("deletion_time", std::string()).empty()) {
        return makeError(provider_errc::kVersionDeleted, "the version is deleted");
      }
    }
    return notFound;
  }
  if (r->status != 200) return unavailable("refused the request (HTTP " + std::to_string(r->status) + ")");
  if (!reply.is_object() || !reply.contains("data") || !reply["data"].is_object() || !reply["data"].contains("data") ||
      !reply["data"]["data"].is_object()) {
    return unavailable("sent a malformed answer");
  }
  json& data = reply["data"]["data"];
  FetchedSecret out;
  const json& meta = reply["data"].value("metadata", json::object());
  if (meta.is_object() && meta.contains("version") && meta["version"].is_number_unsigned()) {
    out.metadata.kvVersion = meta["version"].get<std::uint32_t>();
  }
  Result<Secret> value = notFound;
  if (!uri.field()) {
    std::string text = data.dump();
    value = Secret::copyFrom(text);
    secureWipe(text.data(), text.size());
  } else if (data.contains(*uri.field())) {
    json& f = data[*uri.field()];
    if (f.is_string()) {
      value = Secret::copyFrom(f.get_ref<const std::string&>());
    } else {
      std::string text = f.dump();
      value = Secret::copyFrom(text);
      secureWipe(text.data(), text.size());
    }
  }
  if (!value) return value.error();
  out.value = std::move(*value);
  return out;
}

}  // namespace sealgate::providers
