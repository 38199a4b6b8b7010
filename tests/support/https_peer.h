// Test support: a real HTTPS server on loopback for the `rest` connector's tests,
// the e2e tests, the demo and the benchmark (Poco's HTTPServer over TLS with a
// certificate the caller provides). Routes:
//   /echo        200, JSON of what it received: method, path, query, headers, body
//                (so a test can see that a secret reached the peer, and that the
//                egress guard scrubbed it from what came back)
//   /echo-described  the same, plus ETag, Content-MD5, Digest, Content-Digest,
//                Repr-Digest and Content-Range describing the body, and X-Peer-Note
//   /field?name=F  200 with member F of the JSON object it was sent (a peer that
//                re-serialises one field), 404 without it
//   /ok          200 "ok"
//   /bytes?n=N   200 with N bytes of 'x'
//   /status?code=NNN  that status
//   /hang        never answers (until the peer stops)
//   /trickle     a status line, then one header byte every 100 ms for 30 s
//   /requests    {"requests": N}: how many requests the other routes served
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace sealgate::testing {

class HttpsPeer {
 public:
  // Listens on 127.0.0.1:`port` (0: any free port). Null (with the reason
  // printed) when it cannot start.
  static std::unique_ptr<HttpsPeer> start(const std::string& certFile, const std::string& keyFile,
                                          std::uint16_t port = 0, int threads = 8);
  ~HttpsPeer();
  std::uint16_t port() const { return port_; }
  std::uint64_t requests() const;
  // /trickle answers cut short because the client closed the connection.
  std::uint64_t tricklesCut() const;
  struct Impl;  // defined in the .cc (its handlers use it)

 private:
  HttpsPeer() = default;
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
};

// For tests: a dev CA and a server certificate for 127.0.0.1 and localhost in
// `dir` (ca.pem, server.pem, server.key); `name` picks the CA's common name.
bool writeTestPki(const std::string& dir, const std::string& name = "sealgate test CA");

}  // namespace sealgate::testing
