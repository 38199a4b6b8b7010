#include "appliance/server/tls_frontend.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "appliance/telemetry/logging.h"

namespace sealgate::appliance {
namespace {

using Clock = std::chrono::steady_clock;

Error crlError(const std::string& message) { return makeError(ErrorCode::CrlInvalid, message); }

std::string opensslReason() {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "";
  const char* r = ERR_reason_error_string(e);
  return r != nullptr ? r : "TLS error";
}

int remainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count() + 1;
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60000));
}

std::string addressText(const sockaddr_storage& ss) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, text, sizeof text);
  } else if (ss.ss_family == AF_INET6) {
    const auto& a6 = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      inet_ntop(AF_INET, &a6.s6_addr[12], text, sizeof text);  // one peer, one key, however it reached us
    } else {
      inet_ntop(AF_INET6, &a6, text, sizeof text);
    }
  }
  return text;
}

std::vector<X509*> readCertificates(const std::string& file) {
  std::vector<X509*> out;
  BIO* bio = BIO_new_file(file.c_str(), "r");
  if (bio == nullptr) return out;
  while (X509* c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) out.push_back(c);
  BIO_free(bio);
  ERR_clear_error();  // the loop ends on "no start line"
  return out;
}

}  // namespace

// ---- CRLs ------------------------------------------------------------------------------

Result<std::vector<X509_CRL*>> loadCrls(const std::string& crlFile, const std::string& caFile) {
  std::vector<X509_CRL*> crls;
  auto freeAll = [&crls] {
    for (auto* c : crls) X509_CRL_free(c);
    crls.clear();
  };
  BIO* bio = BIO_new_file(crlFile.c_str(), "rb");
  if (bio == nullptr) {
    ERR_clear_error();
    return crlError("cannot read the CRL file " + crlFile);
  }
  while (X509_CRL* c = PEM_read_bio_X509_CRL(bio, nullptr, nullptr, nullptr)) crls.push_back(c);
  ERR_clear_error();
  if (crls.empty() && BIO_reset(bio) == 0) {
    if (X509_CRL* c = d2i_X509_CRL_bio(bio, nullptr)) crls.push_back(c);
    ERR_clear_error();
  }
  BIO_free(bio);
  if (crls.empty()) return crlError("the CRL file " + crlFile + " holds no CRL (PEM or DER)");

  std::vector<X509*> cas = readCertificates(caFile);
  std::string problem;
  const std::string crlNamed = "a CRL in " + crlFile;
  for (X509_CRL* crl : crls) {
    bool signedByCa = false;
    for (X509* ca : cas) {
      if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0 &&
          X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1) {
        signedByCa = true;
        break;
      }
    }
    ERR_clear_error();
    if (!signedByCa) {
      problem = crlNamed + " is not issued and signed by a CA of ";
      problem += caFile;
      break;
    }
    const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl);
    if (next != nullptr && X509_cmp_current_time(next) < 0) {
      problem = crlNamed + " is past its nextUpdate: publish a fresh one";
      break;
    }
    const ASN1_TIME* last = X509_CRL_get0_lastUpdate(crl);
    if (last == nullptr || X509_cmp_current_time(last) > 0) {
      problem = crlNamed + " has its lastUpdate in the future";
      break;
    }
  }
  for (X509* ca : cas) X509_free(ca);
  if (!problem.empty()) {
    freeAll();
    return crlError(problem);
  }
  return crls;
}

Result<std::unique_ptr<ClientTrust>> ClientTrust::create(std::string caFile, std::string crlFile,
                                                         std::string listener) {
  std::unique_ptr<ClientTrust> t(new ClientTrust());
  t->caFile_ = std::move(caFile);
  t->crlFile_ = std::move(crlFile);
  t->listener_ = std::move(listener);
  if (t->crlFile_.empty()) return t;
  if (stat(t->crlFile_.c_str(), &t->loaded_) != 0) return crlError("cannot read the CRL file " + t->crlFile_);
  SEALGATE_ASSIGN_OR_RETURN(auto store, t->load());
  t->store_ = store;
  return t;
}

ClientTrust::~ClientTrust() {
  if (store_ != nullptr) X509_STORE_free(store_);
}

Result<X509_STORE*> ClientTrust::load() const {
  SEALGATE_ASSIGN_OR_RETURN(auto crls, loadCrls(crlFile_, caFile_));
  X509_STORE* store = X509_STORE_new();
  bool ok = store != nullptr && X509_STORE_load_file(store, caFile_.c_str()) == 1;
  for (X509_CRL* c : crls) {
    ok = ok && X509_STORE_add_crl(store, c) == 1;
    X509_CRL_free(c);
  }
  // The client's own certificate is checked against its issuer's CRL.
  ok = ok && X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK) == 1;
  ERR_clear_error();
  if (!ok) {
    X509_STORE_free(store);
    return crlError("cannot build the client trust store from " + caFile_ + " and " + crlFile_);
  }
  return store;
}

bool ClientTrust::sameFile(const struct stat& a, const struct stat& b) {
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
         a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

void ClientTrust::refresh() {
  if (crlFile_.empty()) return;
  std::lock_guard lock(mu_);
  struct stat now {};
  if (stat(crlFile_.c_str(), &now) != 0) {
    if (!haveFailed_) {
      logEvent(LogLevel::Error, "crl_reload_failed",
               {{"listener", listener_}, {"error", "cannot read " + crlFile_ + "; the previous CRLs stay in force"}});
    }
    haveFailed_ = true;
    lastFailed_ = {};
    return;
  }
  if (sameFile(now, loaded_) || (haveFailed_ && sameFile(now, lastFailed_))) return;
  auto fresh = load();
  if (!fresh) {
    logEvent(LogLevel::Error, "crl_reload_failed",
             {{"listener", listener_},
              {"code", fresh.error().code},
              {"error", fresh.error().message + "; the previous CRLs stay in force"}});
    haveFailed_ = true;
    lastFailed_ = now;
    return;
  }
  X509_STORE_free(store_);  // handshakes in progress hold their own reference
  store_ = *fresh;
  loaded_ = now;
  haveFailed_ = false;
  ++generation_;
  logEvent(LogLevel::Info, "crl_reloaded", {{"listener", listener_}, {"file", crlFile_}, {"generation", generation_}});
}

X509_STORE* ClientTrust::acquire(std::uint64_t& generation) {
  std::lock_guard lock(mu_);
  generation = generation_;
  if (store_ == nullptr) return nullptr;
  X509_STORE_up_ref(store_);
  return store_;
}

// ---- connection -------------------------------------------------------------------------

TlsConnection::TlsConnection(int fd, SSL* ssl, std::string peer, int stopFd, std::function<void()> release,
                             ClientTrust* trust, std::uint64_t trustGeneration)
    : fd_(fd),
      ssl_(ssl),
      peer_(std::move(peer)),
      stopFd_(stopFd),
      release_(std::move(release)),
      trust_(trust),
      trustGeneration_(trustGeneration) {}

long TlsConnection::recheckCertificate() {
  if (trust_ == nullptr || !trust_->enabled()) return X509_V_OK;
  trust_->refresh();
  std::uint64_t generation = 0;
  X509_STORE* store = trust_->acquire(generation);
  if (store == nullptr) return X509_V_OK;
  if (generation == trustGeneration_) {
    X509_STORE_free(store);
    return X509_V_OK;
  }
  long result = X509_V_ERR_UNSPECIFIED;
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  if (ctx != nullptr && X509_STORE_CTX_init(ctx, store, peerCertificate(), SSL_get_peer_cert_chain(ssl_)) == 1) {
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    result = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  }
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  ERR_clear_error();
  if (result == X509_V_OK) trustGeneration_ = generation;
  return result;
}

TlsConnection::~TlsConnection() {
  if (!closed_) {
    SSL_shutdown(ssl_);  // best effort close_notify; never waits
    ERR_clear_error();
  }
  SSL_free(ssl_);
  ::close(fd_);
  if (release_) release_();
}

TlsConnection::Io TlsConnection::wait(short events, Clock::time_point deadline, bool interruptible) const {
  pollfd fds[2] = {{fd_, events, 0}, {stopFd_, POLLIN, 0}};
  while (true) {
    const int ms = remainingMs(deadline);
    if (ms <= 0 || Clock::now() >= deadline) return Io::Timeout;
    const int r = ::poll(fds, interruptible ? 2 : 1, ms);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Io::Error;
    }
    if (r == 0) continue;
    if (interruptible && fds[1].revents != 0) return Io::Stopped;
    return Io::Ok;  // readable, writable or an error the TLS call will report
  }
}

TlsConnection::Io TlsConnection::read(std::string& buf, Clock::time_point deadline, bool interruptible) {
  char tmp[16384];
  while (true) {
    ERR_clear_error();
    const int n = SSL_read(ssl_, tmp, sizeof tmp);
    if (n > 0) {
      buf.append(tmp, static_cast<std::size_t>(n));
      return Io::Ok;
    }
    const int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_ZERO_RETURN) return Io::Eof;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      const Io w = wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, interruptible);
      if (w != Io::Ok) return w;
      continue;
    }
    ERR_clear_error();
    return e == SSL_ERROR_SYSCALL && errno == 0 ? Io::Eof : Io::Error;
  }
}

TlsConnection::Io TlsConnection::writeAll(std::string_view data, Clock::time_point deadline) {
  std::size_t off = 0;
  while (off < data.size()) {
    ERR_clear_error();
    const int n =
        SSL_write(ssl_, data.data() + off, static_cast<int>(std::min<std::size_t>(data.size() - off, 1 << 30)));
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    const int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      const Io w = wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, false);
      if (w != Io::Ok) return w;
      continue;
    }
    ERR_clear_error();
    return Io::Error;
  }
  return Io::Ok;
}

void TlsConnection::closeGracefully() {
  if (closed_) return;
  closed_ = true;
  SSL_shutdown(ssl_);
  ERR_clear_error();
  ::shutdown(fd_, SHUT_WR);
  // Lingering close: read and drop what is still in flight (a body the client
  // sent anyway), up to 1 s and 256 KiB, so the kernel does not answer it with a
  // reset that could destroy the response before the client read it.
  const auto until = Clock::now() + std::chrono::seconds(1);
  std::size_t drained = 0;
  char tmp[16384];
  while (drained < 256 * 1024) {
    pollfd p{fd_, POLLIN, 0};
    const int ms = remainingMs(until);
    if (ms <= 0 || Clock::now() >= until) break;
    const int r = ::poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) break;
    drained += static_cast<std::size_t>(n);
  }
}

// ---- front end ----------------------------------------------------------------------------

Result<std::unique_ptr<TlsFrontEnd>> TlsFrontEnd::create(const FrontEndSettings& settings, SSL_CTX* ctx,
                                                         std::unique_ptr<ClientTrust> trust, Serve serve) {
  std::unique_ptr<TlsFrontEnd> f(new TlsFrontEnd());
  f->settings_ = settings;
  SSL_CTX_up_ref(ctx);
  f->ctx_ = ctx;
  f->trust_ = std::move(trust);
  f->serve_ = std::move(serve);

  const auto colon = settings.listen.rfind(':');
  if (colon == std::string::npos)
    return makeError(ErrorCode::ListenFailed, "listen must be host:port: " + settings.listen);
  std::string host = settings.listen.substr(0, colon);
  const std::string port = settings.listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return makeError(ErrorCode::ListenFailed, "cannot resolve " + settings.listen);
  }
  const int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  const bool bound = fd >= 0 && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                     ::bind(fd, res->ai_addr, res->ai_addrlen) == 0 && ::listen(fd, 128) == 0;
  const int bindErrno = errno;
  freeaddrinfo(res);
  if (!bound) {
    if (fd >= 0) ::close(fd);
    return makeError(ErrorCode::ListenFailed, "cannot listen on " + settings.listen + ": " + std::strerror(bindErrno));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  f->port_ = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(ss).sin6_port
                                            : reinterpret_cast<sockaddr_in&>(ss).sin_port);
  f->listenFd_ = fd;
  f->stopFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (f->stopFd_ < 0) return makeError(ErrorCode::ListenFailed, "eventfd failed");
  return f;
}

TlsFrontEnd::~TlsFrontEnd() {
  stop();
  if (listenFd_ >= 0) ::close(listenFd_);
  if (stopFd_ >= 0) ::close(stopFd_);
  SSL_CTX_free(ctx_);
}

void TlsFrontEnd::setContext(SSL_CTX* ctx) {
  SSL_CTX_up_ref(ctx);
  SSL_CTX* old = nullptr;
  {
    std::lock_guard lock(ctxMu_);
    old = ctx_;
    ctx_ = ctx;
  }
  SSL_CTX_free(old);  // connections made with it hold their own reference
}

void TlsFrontEnd::start() {
  if (started_) return;
  started_ = true;
  acceptor_ = std::thread([this] { acceptLoop(); });
  for (std::size_t i = 0; i < settings_.workers; ++i) workers_.emplace_back([this] { workerLoop(); });
}

void TlsFrontEnd::stop() {
  if (!started_) return;
  started_ = false;
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t w = ::write(stopFd_, &one, sizeof one);
  acceptor_.join();
  ::close(listenFd_);
  listenFd_ = -1;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

TlsFrontEnd::Stats TlsFrontEnd::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void TlsFrontEnd::release(const std::string& peer) {
  std::lock_guard lock(mu_);
  --open_;
  auto it = perPeer_.find(peer);
  if (it != perPeer_.end() && --it->second == 0) perPeer_.erase(it);
}

void TlsFrontEnd::acceptNew() {
  while (true) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd = ::accept4(listenFd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        logEvent(LogLevel::Error, "accept_failed", {{"listener", settings_.name}, {"error", std::strerror(errno)}});
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return;
    }
    std::string peer = addressText(ss);
    {
      std::lock_guard lock(mu_);
      if (open_ >= settings_.maxConnections) {
        ++stats_.refusedAtCap;
        ::close(fd);
        continue;
      }
      auto& count = perPeer_[peer];
      if (count >= settings_.maxPerPeer) {
        ++stats_.refusedPerPeer;
        ::close(fd);
        continue;
      }
      ++count;
      ++open_;
      ++stats_.accepted;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL* ssl = nullptr;
    {
      std::lock_guard lock(ctxMu_);
      ssl = SSL_new(ctx_);
    }
    if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
      if (ssl != nullptr) SSL_free(ssl);
      ERR_clear_error();
      ::close(fd);
      release(peer);
      continue;
    }
    SSL_set_accept_state(ssl);
    std::uint64_t generation = 0;
    if (trust_) trust_->refresh();
    if (X509_STORE* store = trust_ ? trust_->acquire(generation) : nullptr) {
      SSL_set1_verify_cert_store(ssl, store);
      X509_STORE_free(store);
    }
    pending_.push_back(
        Pending{fd, ssl, std::move(peer), Clock::now() + settings_.handshakeTimeout, POLLIN, generation});
  }
}

void TlsFrontEnd::dropPending(Pending& p, const char* reason, const char* kind) {
  logEvent(LogLevel::Info, "connection_rejected", {{"listener", settings_.name}, {"peer", p.peer}, {"reason", reason}});
  SSL_free(p.ssl);
  ::close(p.fd);
  {
    std::lock_guard lock(mu_);
    if (kind == nullptr) {
      ++stats_.handshakeTimedOut;
    } else {
      ++stats_.handshakeFailed;
      ++stats_.handshakeFailures[kind];
    }
  }
  release(p.peer);
}

void TlsFrontEnd::finishHandshake(Pending& p, bool& remove) {
  ERR_clear_error();
  const int r = SSL_do_handshake(p.ssl);
  if (r == 1) {
    remove = true;
    if (SSL_get_verify_result(p.ssl) != X509_V_OK || SSL_get0_peer_certificate(p.ssl) == nullptr) {
      dropPending(p, "no verified client certificate", "no_client_certificate");
      return;
    }
    const std::string peer = p.peer;
    auto conn = std::make_unique<TlsConnection>(
        p.fd, p.ssl, peer, stopFd_, [this, peer] { release(peer); }, trust_.get(), p.trustGeneration);
    {
      std::lock_guard lock(mu_);
      ready_.push_back(std::move(conn));
    }
    cv_.notify_one();
    return;
  }
  const int e = SSL_get_error(p.ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    p.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
    return;
  }
  remove = true;
  std::string reason;
  const char* kind = "protocol_error";
  const long verify = SSL_get_verify_result(p.ssl);
  if (verify != X509_V_OK) {
    reason = std::string("client certificate: ") + X509_verify_cert_error_string(verify);
    kind = verify == X509_V_ERR_CERT_REVOKED       ? "certificate_revoked"
           : verify == X509_V_ERR_CERT_HAS_EXPIRED ? "certificate_expired"
                                                   : "certificate_untrusted";
  } else {
    reason = opensslReason();
    if (reason.empty()) {
      reason = "the connection closed during the TLS handshake";
      kind = "closed";
    } else if (reason.find("peer did not return a certificate") != std::string::npos) {
      kind = "no_client_certificate";
    }
  }
  ERR_clear_error();
  dropPending(p, reason.c_str(), kind);
}

void TlsFrontEnd::acceptLoop() {
  std::vector<pollfd> fds;
  while (true) {
    fds.clear();
    fds.push_back({listenFd_, POLLIN, 0});
    fds.push_back({stopFd_, POLLIN, 0});
    int timeout = 1000;
    for (const auto& p : pending_) {
      fds.push_back({p.fd, p.events, 0});
      timeout = std::min(timeout, remainingMs(p.deadline));
    }
    const int r = ::poll(fds.data(), fds.size(), timeout);
    if (r < 0 && errno != EINTR) {
      logEvent(LogLevel::Error, "accept_failed", {{"listener", settings_.name}, {"error", std::strerror(errno)}});
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (fds[1].revents != 0) break;
    const std::size_t polled = fds.size() - 2;  // pending_[0, polled) were polled
    std::vector<bool> remove(pending_.size(), false);
    for (std::size_t i = 0; r > 0 && i < polled; ++i) {
      if (fds[i + 2].revents == 0) continue;
      bool done = false;
      finishHandshake(pending_[i], done);
      remove[i] = done;
    }
    const auto now = Clock::now();
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      if (!remove[i] && pending_[i].deadline <= now) {
        dropPending(pending_[i], "the TLS handshake did not complete within limits.handshake_timeout_ms", nullptr);
        remove[i] = true;
      }
    }
    std::size_t keep = 0;
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      if (remove[i]) continue;
      if (keep != i) pending_[keep] = std::move(pending_[i]);  // never a self-move: it would empty `peer`
      ++keep;
    }
    pending_.resize(keep);
    if (r > 0 && fds[0].revents != 0) acceptNew();
  }
  for (auto& p : pending_) {
    SSL_free(p.ssl);
    ::close(p.fd);
    release(p.peer);
  }
  pending_.clear();
}

void TlsFrontEnd::workerLoop() {
  while (true) {
    std::unique_ptr<TlsConnection> conn;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
      if (ready_.empty()) return;
      conn = std::move(ready_.front());
      ready_.pop_front();
    }
    try {
      serve_(*conn);
    } catch (const std::exception& e) {
      logEvent(LogLevel::Error, "connection_failed", {{"listener", settings_.name}, {"what", e.what()}});
    }
  }
}

}  // namespace sealgate::appliance
