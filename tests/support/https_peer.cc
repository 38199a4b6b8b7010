#include "tests/support/https_peer.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <condition_variable>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "appliance/cli/pki.h"

namespace sealgate::testing {

struct HttpsPeer::Impl {
  std::unique_ptr<Poco::Net::HTTPServer> server;
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> tricklesCut{0};  // /trickle answers the client closed before the end
  std::mutex mu;
  std::condition_variable stopped;
  bool stopping = false;
};

namespace {

std::string queryValue(const Poco::URI& uri, const std::string& key) {
  for (const auto& [k, v] : uri.getQueryParameters()) {
    if (k == key) return v;
  }
  return "";
}

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(HttpsPeer::Impl& impl) : impl_(impl) {}
  void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
    Poco::URI uri(req.getURI());
    if (uri.getPath() == "/requests") {  // the count so far, for tests; not counted itself
      send(resp, 200, "application/json", nlohmann::json{{"requests", impl_.requests.load()}}.dump());
      return;
    }
    ++impl_.requests;
    std::string body;
    Poco::StreamCopier::copyToString(req.stream(), body);
    const std::string path = uri.getPath();
    if (path == "/echo" || path == "/echo-described") {
      nlohmann::json headers = nlohmann::json::object();
      for (const auto& [k, v] : req) headers[k] = v;
      nlohmann::json out{{"method", req.getMethod()},
                         {"path", path},
                         {"query", uri.getRawQuery()},
                         {"headers", headers},
                         {"body", body}};
      const std::string text = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      if (path == "/echo-described") {
        // Headers that describe the body's length or content, as caches and
        // integrity-minded servers send them (stand-in digests: the length).
        const std::string n = std::to_string(text.size());
        resp.set("ETag", "\"" + n + "\"");
        resp.set("Content-MD5", "len-" + n);
        resp.set("Digest", "sha-256=len-" + n);
        resp.set("Content-Digest", "sha-256=:len-" + n + ":");
        resp.set("Repr-Digest", "sha-256=:len-" + n + ":");
        resp.set("Content-Range", "bytes 0-" + std::to_string(text.size() - 1) + "/" + n);
        resp.set("X-Peer-Note", "kept");
      }
      send(resp, 200, "application/json", text);
    } else if (path == "/field") {
      // A peer that re-serialises: parses the JSON body and answers one member.
      const auto doc = nlohmann::json::parse(body, nullptr, false);
      const std::string name = queryValue(uri, "name");
      if (doc.is_object() && doc.contains(name)) {
        send(resp, 200, "text/plain", doc[name].is_string() ? doc[name].get<std::string>() : doc[name].dump());
      } else {
        send(resp, 404, "text/plain", "no such field");
      }
    } else if (path == "/ok") {
      send(resp, 200, "text/plain", "ok");
    } else if (path == "/bytes") {
      send(resp, 200, "application/octet-stream", std::string(std::stoul("0" + queryValue(uri, "n")), 'x'));
    } else if (path == "/status") {
      send(resp, std::stoi("0" + queryValue(uri, "code")), "text/plain", "status");
    } else if (path == "/trickle") {
      // A status line, then one header byte every 100 ms: every read gets data
      // well within any per-read timeout; only a whole-request deadline ends it.
      auto& socket = static_cast<Poco::Net::HTTPServerRequestImpl&>(req).socket();
      const std::string start = "HTTP/1.1 200 OK\r\nX-Slow: ";
      socket.sendBytes(start.data(), static_cast<int>(start.size()));
      for (int i = 0; i < 300; ++i) {
        std::unique_lock lock(impl_.mu);
        if (impl_.stopped.wait_for(lock, std::chrono::milliseconds(100), [&] { return impl_.stopping; })) break;
        lock.unlock();
        try {
          if (socket.sendBytes("a", 1) <= 0) throw Poco::IOException("closed");
        } catch (const Poco::Exception&) {
          ++impl_.tricklesCut;  // the client closed the connection
          break;
        }
      }
      resp.setKeepAlive(false);
      throw Poco::Net::NoMessageException("trickle done");  // nothing more to write
    } else if (path == "/hang") {
      std::unique_lock lock(impl_.mu);
      impl_.stopped.wait_for(lock, std::chrono::seconds(60), [&] { return impl_.stopping; });
    } else {
      send(resp, 404, "text/plain", "no such route");
    }
  }

 private:
  static void send(Poco::Net::HTTPServerResponse& resp, int status, const std::string& type, const std::string& body) {
    resp.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
    resp.setContentType(type);
    resp.setContentLength(static_cast<std::streamsize>(body.size()));
    resp.send() << body;
  }
  HttpsPeer::Impl& impl_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(HttpsPeer::Impl& impl) : impl_(impl) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new Handler(impl_);
  }

 private:
  HttpsPeer::Impl& impl_;
};

}  // namespace

std::unique_ptr<HttpsPeer> HttpsPeer::start(const std::string& certFile, const std::string& keyFile, std::uint16_t port,
                                            int threads) {
  std::unique_ptr<HttpsPeer> peer(new HttpsPeer());
  peer->impl_ = std::make_unique<Impl>();
  try {
    Poco::Net::Context::Params p;
    p.certificateFile = certFile;
    p.privateKeyFile = keyFile;
    p.verificationMode = Poco::Net::Context::VERIFY_NONE;
    Poco::Net::Context::Ptr ctx = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, p);
    Poco::Net::SecureServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", port), 256, ctx);
    peer->port_ = socket.address().port();
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(threads);
    params->setMaxQueued(1024);
    params->setKeepAlive(true);
    peer->impl_->server = std::make_unique<Poco::Net::HTTPServer>(new Factory(*peer->impl_), socket, params);
    peer->impl_->server->start();
  } catch (const Poco::Exception& e) {
    std::cerr << "HttpsPeer: " << e.displayText() << "\n";
    return nullptr;
  }
  return peer;
}

HttpsPeer::~HttpsPeer() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->stopped.notify_all();
  if (impl_->server) impl_->server->stopAll(true);
}

std::uint64_t HttpsPeer::requests() const { return impl_->requests.load(); }
std::uint64_t HttpsPeer::tricklesCut() const { return impl_->tricklesCut.load(); }

bool writeTestPki(const std::string& dir, const std::string& name) {
  using namespace sealgate::appliance;
  auto caKey = generateP256Key();
  if (!caKey) return false;
  auto ca = makeSelfSignedCa(caKey->get(), name, 2);
  auto key = generateP256Key();
  if (!ca || !key) return false;
  auto cert = issueCertificate(ca->get(), caKey->get(), key->get(), "localhost", "DNS:localhost,IP:127.0.0.1", true, 2);
  if (!cert) return false;
  return writeCertificatePem(dir + "/ca.pem", ca->get()) && writeCertificatePem(dir + "/server.pem", cert->get()) &&
         writePrivateKeyPem(dir + "/server.key", key->get());
}

}  // namespace sealgate::testing
