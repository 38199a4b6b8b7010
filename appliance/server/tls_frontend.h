// The TLS side of a listener, in two stages so that clients that have not
// finished a TLS handshake never hold a request worker:
//
//  1. one accept/handshake thread takes new TCP connections (refused beyond
//     limits.max_connections, or beyond limits.max_connections_per_peer from one
//     address) and drives every handshake on non-blocking sockets with poll(),
//     closing those not done within limits.handshake_timeout_ms;
//  2. request workers (limits.worker_threads) serve connections whose client
//     certificate verified.
//
// Client certificates are checked against the listener's CA file and, when
// configured, its CRL file, reloaded when the file changes (docs/CONFIG.md).
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"

namespace sealgate::appliance {

// The trust store client certificates are verified against: the CA bundle plus,
// when a CRL file is configured, its CRLs (every CRL must be issued and signed by
// a CA of the bundle; a client whose issuer has no CRL is refused). refresh()
// reloads the CRLs when the file changed (inode, size, mtime or ctime); a file
// that does not load keeps the previous store and is logged, so an operator's
// half-written file never opens the gate. Thread-safe.
class ClientTrust {
 public:
  static Result<std::unique_ptr<ClientTrust>> create(std::string caFile, std::string crlFile, std::string listener);
  ~ClientTrust();
  ClientTrust(const ClientTrust&) = delete;
  ClientTrust& operator=(const ClientTrust&) = delete;
  bool enabled() const { return !crlFile_.empty(); }
  void refresh();
  // The current store, with a reference for the caller (X509_STORE_free it), and
  // its generation (one more per reload); nullptr without a CRL file.
  X509_STORE* acquire(std::uint64_t& generation);

 private:
  ClientTrust() = default;
  Result<X509_STORE*> load() const;
  static bool sameFile(const struct stat& a, const struct stat& b);
  std::string caFile_, crlFile_, listener_;
  std::mutex mu_;
  X509_STORE* store_ = nullptr;
  std::uint64_t generation_ = 0;
  struct stat loaded_ {};
  struct stat lastFailed_ {};
  bool haveFailed_ = false;
};

// Loads and checks a CRL file against a CA bundle (PEM, or one DER CRL): at least
// one CRL, each issued and signed by a CA of the bundle, none past nextUpdate.
Result<std::vector<X509_CRL*>> loadCrls(const std::string& crlFile, const std::string& caFile);

// A connection whose TLS handshake completed (the client certificate verified).
// The socket is non-blocking; every wait has a deadline.
class TlsConnection {
 public:
  enum class Io { Ok, Eof, Timeout, Stopped, Error };
  using Clock = std::chrono::steady_clock;
  TlsConnection(int fd, SSL* ssl, std::string peer, int stopFd, std::function<void()> release,
                ClientTrust* trust = nullptr, std::uint64_t trustGeneration = 0);
  ~TlsConnection();
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  // Appends what one read returns to `buf`. `interruptible`: a listener stop
  // ends the wait (between requests, never within one).
  Io read(std::string& buf, Clock::time_point deadline, bool interruptible);
  Io writeAll(std::string_view data, Clock::time_point deadline);
  // close_notify, then a bounded drain of what the client still sends, so a
  // response followed by close is not lost to a TCP reset.
  void closeGracefully();
  X509* peerCertificate() const { return SSL_get0_peer_certificate(ssl_); }
  // After a CRL reload, the client certificate verified again against the new
  // store: the X509_V_ERR_* that refuses it now, or X509_V_OK.
  long recheckCertificate();
  const std::string& peer() const { return peer_; }
  int fd() const { return fd_; }

 private:
  Io wait(short events, Clock::time_point deadline, bool interruptible) const;
  int fd_;
  SSL* ssl_;
  std::string peer_;
  int stopFd_;
  std::function<void()> release_;
  ClientTrust* trust_;
  std::uint64_t trustGeneration_;
  bool closed_ = false;
};

struct FrontEndSettings {
  std::string listen;  // host:port
  std::string name;    // "pep" or "admin", for logs
  std::size_t maxConnections = 64;
  std::size_t maxPerPeer = 32;
  std::size_t workers = 16;
  std::chrono::milliseconds handshakeTimeout{3000};
};

class TlsFrontEnd {
 public:
  using Serve = std::function<void(TlsConnection&)>;
  // Binds now (so port() is known), serves after start(). `ctx` is shared (the
  // front end holds a reference of its own).
  static Result<std::unique_ptr<TlsFrontEnd>> create(const FrontEndSettings& settings, SSL_CTX* ctx,
                                                     std::unique_ptr<ClientTrust> trust, Serve serve);
  ~TlsFrontEnd();
  // New connections handshake with `ctx` from now on (a new certificate and
  // key); connections already open keep theirs.
  void setContext(SSL_CTX* ctx);
  void start();
  // No new connections; handshakes in progress are dropped; connections
  // finish their in-flight request, then close.
  void stop();
  std::uint16_t port() const { return port_; }

  struct Stats {
    std::uint64_t accepted = 0, refusedAtCap = 0, refusedPerPeer = 0, handshakeFailed = 0, handshakeTimedOut = 0;
    // handshakeFailed by reason: no_client_certificate, certificate_untrusted,
    // certificate_expired, certificate_revoked, protocol_error, closed.
    std::map<std::string, std::uint64_t> handshakeFailures;
  };
  Stats stats() const;

 private:
  TlsFrontEnd() = default;
  using Clock = std::chrono::steady_clock;
  struct Pending {
    int fd;
    SSL* ssl;
    std::string peer;
    Clock::time_point deadline;
    short events;
    std::uint64_t trustGeneration;
  };
  void acceptLoop();
  void acceptNew();
  void finishHandshake(Pending& p, bool& remove);
  // `kind` is the failure's reason (Stats::handshakeFailures), or null for a timeout.
  void dropPending(Pending& p, const char* reason, const char* kind);
  void release(const std::string& peer);
  void workerLoop();

  FrontEndSettings settings_;
  std::mutex ctxMu_;
  SSL_CTX* ctx_ = nullptr;  // under ctxMu_; one reference held
  std::unique_ptr<ClientTrust> trust_;
  Serve serve_;
  int listenFd_ = -1;
  int stopFd_ = -1;  // eventfd: readable once stop() began
  std::uint16_t port_ = 0;
  std::vector<Pending> pending_;  // accept thread only

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::deque<std::unique_ptr<TlsConnection>> ready_;
  std::map<std::string, std::size_t> perPeer_;
  std::size_t open_ = 0;
  bool stopping_ = false;
  Stats stats_;

  std::thread acceptor_;
  std::vector<std::thread> workers_;
  bool started_ = false;
};

}  // namespace sealgate::appliance
