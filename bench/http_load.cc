// sealgate-http-load: a small mTLS keep-alive HTTP/1.1 load client (OpenSSL only).
//
// wrk cannot present client certificates, so the appliance's listeners (which
// require one) are measured with this instead. Each of --connections threads
// holds one keep-alive TLS connection (TCP_NODELAY, client certificate, server
// verified against --cacert including its name/IP), sends the same request in a
// closed loop and records each request's latency. After --warmup seconds of
// unrecorded requests it measures for --duration seconds (at most 60) or until
// --requests requests completed, then prints one JSON line:
//   {"path","method","connections","requests","errors","non_2xx","reconnects",
//    "seconds","rps","p50_us","p90_us","p99_us","max_us","client_cpu_s"}
// (client_cpu_s: this process's user+system CPU time while its threads ran, so
// including --warmup: client and server usually share the machine's cores).
// `requests` counts every response received in the measured phase (2xx or not);
// `errors` counts requests that got no parseable response (connect, TLS, I/O,
// protocol errors, timeouts). The exit code is non-zero if errors > 0.
//
// Load tests may only target this machine: --host must be 127.0.0.0/8, ::1 or
// localhost (which must resolve to loopback).
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kMaxDurationSeconds = 60.0;
constexpr double kMaxWarmupSeconds = 30.0;
constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
constexpr std::size_t kMaxBodyBytes = 64 * 1024 * 1024;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string cacert, cert, key;
  std::string method = "GET";
  std::string path = "/healthz";
  std::string body;
  std::string contentType = "application/json";
  int connections = 4;
  double duration = 5.0;
  long long requests = 0;  // 0: run for --duration
  double warmup = 0.0;
  double timeout = 10.0;  // per socket read/write
};

// ---- loopback-only target -------------------------------------------------------------

bool isLoopback(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return false;
}

struct Target {
  sockaddr_storage addr{};
  socklen_t addrLen = 0;
  bool isIp = true;        // verify the server certificate's IP SAN (else its DNS name)
  std::string hostHeader;  // Host: value
};

// Accepts only literal loopback addresses and "localhost"; everything the name
// resolves to must be loopback too (a hosts file could say otherwise).
std::optional<Target> resolveLoopback(const std::string& host, int port, std::string& why) {
  Target t;
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&t.addr);
    sin->sin_family = AF_INET;
    sin->sin_addr = a4;
    sin->sin_port = htons(static_cast<std::uint16_t>(port));
    t.addrLen = sizeof(sockaddr_in);
    t.hostHeader = host + ":" + std::to_string(port);
  } else if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&t.addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = a6;
    sin6->sin6_port = htons(static_cast<std::uint16_t>(port));
    t.addrLen = sizeof(sockaddr_in6);
    t.hostHeader = "[" + host + "]:" + std::to_string(port);
  } else if (host == "localhost") {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string service = std::to_string(port);
    if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
      why = std::string("cannot resolve localhost: ") + gai_strerror(rc);
      return std::nullopt;
    }
    bool found = false;
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      if (!isLoopback(ai->ai_addr)) {
        freeaddrinfo(res);
        why = "localhost resolves to a non-loopback address";
        return std::nullopt;
      }
      if (!found) {
        std::memcpy(&t.addr, ai->ai_addr, ai->ai_addrlen);
        t.addrLen = ai->ai_addrlen;
        found = true;
      }
    }
    freeaddrinfo(res);
    if (!found) {
      why = "localhost has no address";
      return std::nullopt;
    }
    t.isIp = false;
    t.hostHeader = host + ":" + std::to_string(port);
  } else {
    why = "--host must be an address in 127.0.0.0/8, ::1 or localhost (load tests target loopback only)";
    return std::nullopt;
  }
  if (!isLoopback(reinterpret_cast<sockaddr*>(&t.addr))) {
    why = "--host must be an address in 127.0.0.0/8, ::1 or localhost (load tests target loopback only)";
    return std::nullopt;
  }
  return t;
}

// ---- TLS connection ---------------------------------------------------------------------

std::string sslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

SSL_CTX* makeClientContext(const Options& o, std::string& why) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    why = "SSL_CTX_new: " + sslErrors();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx, o.cacert.c_str(), nullptr) != 1) {
    why = "cannot load --cacert " + o.cacert + ": " + sslErrors();
  } else if (SSL_CTX_use_certificate_chain_file(ctx, o.cert.c_str()) != 1) {
    why = "cannot load --cert " + o.cert + ": " + sslErrors();
  } else if (SSL_CTX_use_PrivateKey_file(ctx, o.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    why = "cannot load --key " + o.key + ": " + sslErrors();
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    why = "--key does not match --cert: " + sslErrors();
  } else {
    return ctx;
  }
  SSL_CTX_free(ctx);
  return nullptr;
}

class Connection {
 public:
  Connection(SSL_CTX* ctx, const Target& target, const Options& o) : ctx_(ctx), target_(target), o_(o) {}
  ~Connection() { close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool open() const { return ssl_ != nullptr; }
  // Requests answered on the current connection (0: fresh).
  long long served() const { return served_; }

  bool connect(std::string& why) {
    close();
    fd_ = ::socket(target_.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      why = std::string("socket: ") + std::strerror(errno);
      return false;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(o_.timeout);
    tv.tv_usec = static_cast<suseconds_t>((o_.timeout - static_cast<double>(tv.tv_sec)) * 1e6);
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&target_.addr), target_.addrLen) != 0) {
      why = std::string("connect: ") + std::strerror(errno);
      close();
      return false;
    }
    ssl_ = SSL_new(ctx_);
    if (ssl_ == nullptr) {
      why = "SSL_new: " + sslErrors();
      close();
      return false;
    }
    SSL_set_fd(ssl_, fd_);
    // The server certificate must name what we connected to.
    if (target_.isIp) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), o_.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl_, o_.host.c_str());
      SSL_set1_host(ssl_, o_.host.c_str());
    }
    ERR_clear_error();
    if (SSL_connect(ssl_) != 1) {
      const long verify = SSL_get_verify_result(ssl_);
      why = "TLS handshake failed: " + sslErrors();
      if (verify != X509_V_OK) why += std::string(" (verify: ") + X509_verify_cert_error_string(verify) + ")";
      close();
      return false;
    }
    return true;
  }

  // `graceful`: send close_notify, half-close, and read (briefly) until the
  // server closes too, so that unread data (TLS 1.3 session tickets) does not
  // turn our close into a TCP reset. Used when the client is done, not on errors.
  void close(bool graceful = false) {
    if (ssl_ != nullptr) {
      if (graceful) {
        SSL_shutdown(ssl_);
        ::shutdown(fd_, SHUT_WR);
        timeval tv{0, 200000};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char sink[4096];
        while (SSL_read(ssl_, sink, sizeof sink) > 0) {
        }
        ERR_clear_error();
      }
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    buf_.clear();
    pos_ = 0;
    served_ = 0;
  }

  enum class Outcome { Ok, ClosedBeforeResponse, Error };

  // Sends `request` and reads one response. ClosedBeforeResponse: the peer closed
  // the connection before sending any byte of a response (keep-alive race),
  // which the caller may retry on a new connection.
  Outcome exchange(const std::string& request, int& status, std::string& why) {
    ERR_clear_error();
    std::size_t sent = 0;
    while (sent < request.size()) {
      const int n = SSL_write(ssl_, request.data() + sent, static_cast<int>(request.size() - sent));
      if (n <= 0) {
        const int err = SSL_get_error(ssl_, n);
        if (served_ > 0 && (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL)) {
          close();
          return Outcome::ClosedBeforeResponse;
        }
        why = "write failed: " + describeIoError(err);
        close();
        return Outcome::Error;
      }
      sent += static_cast<std::size_t>(n);
    }
    bool closeAfter = false;
    const std::size_t before = buf_.size() - pos_;
    Outcome oc = readResponse(status, closeAfter, why);
    if (oc == Outcome::ClosedBeforeResponse && (served_ == 0 || before != 0)) oc = Outcome::Error;
    if (oc != Outcome::Ok) {
      if (oc == Outcome::Error && why.empty()) why = "connection closed before a response";
      close();
      return oc;
    }
    ++served_;
    if (closeAfter) close();
    return Outcome::Ok;
  }

 private:
  std::string describeIoError(int err) {
    switch (err) {
      case SSL_ERROR_ZERO_RETURN:
        return "peer closed the TLS connection";
      case SSL_ERROR_SYSCALL: {
        std::string s = errno == 0 ? "unexpected EOF" : std::strerror(errno);
        if (errno == EAGAIN || errno == EWOULDBLOCK) s = "timed out";
        return s + " " + sslErrors();
      }
      case SSL_ERROR_SSL:
        return "TLS error: " + sslErrors();
      default:
        return "SSL error " + std::to_string(err);
    }
  }

  // Reads more bytes into buf_. 1: got data, 0: peer closed, -1: error.
  int fill(std::string& why) {
    if (pos_ > 0 && pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    } else if (pos_ > 64 * 1024) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    char chunk[16384];
    errno = 0;
    const int n = SSL_read(ssl_, chunk, sizeof chunk);
    if (n > 0) {
      buf_.append(chunk, static_cast<std::size_t>(n));
      return 1;
    }
    const int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_ZERO_RETURN) return 0;
    // A TCP FIN without close_notify; OpenSSL 3 reports it as SSL_ERROR_SSL
    // "unexpected eof while reading", 1.1 as SSL_ERROR_SYSCALL with errno 0.
    if (err == SSL_ERROR_SYSCALL && errno == 0) return 0;
    if (err == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
      ERR_clear_error();
      return 0;
    }
    why = "read failed: " + describeIoError(err);
    return -1;
  }

  // Reads until `buf_` holds a CRLF-terminated line at pos_; returns it without CRLF.
  bool readLine(std::string& line, std::string& why) {
    while (true) {
      const auto eol = buf_.find("\r\n", pos_);
      if (eol != std::string::npos) {
        line.assign(buf_, pos_, eol - pos_);
        pos_ = eol + 2;
        return true;
      }
      if (buf_.size() - pos_ > kMaxHeaderBytes) {
        why = "line too long";
        return false;
      }
      const int r = fill(why);
      if (r <= 0) {
        if (r == 0) why = "connection closed mid-response";
        return false;
      }
    }
  }

  bool readExactly(std::size_t n, std::string& why) {
    while (buf_.size() - pos_ < n) {
      const int r = fill(why);
      if (r <= 0) {
        if (r == 0) why = "connection closed mid-body";
        return false;
      }
    }
    pos_ += n;
    return true;
  }

  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  static std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
  }

  Outcome readResponse(int& status, bool& closeAfter, std::string& why) {
    while (true) {  // loops over 1xx interim responses
      // Wait for the first byte so that a keep-alive close is told apart.
      if (pos_ == buf_.size()) {
        const int r = fill(why);
        if (r == 0) return Outcome::ClosedBeforeResponse;
        if (r < 0) return Outcome::Error;
      }
      std::string line;
      if (!readLine(line, why)) return Outcome::Error;
      // HTTP/1.x SSS reason
      if (line.size() < 12 || line.compare(0, 7, "HTTP/1.") != 0 || line[8] != ' ') {
        why = "bad status line: " + line.substr(0, 80);
        return Outcome::Error;
      }
      const bool http10 = line[7] == '0';
      status = std::atoi(line.substr(9, 3).c_str());
      if (status < 100 || status > 599) {
        why = "bad status code: " + line.substr(0, 80);
        return Outcome::Error;
      }
      long long contentLength = -1;
      bool chunked = false;
      std::string connection;
      std::size_t headerBytes = 0;
      while (true) {
        if (!readLine(line, why)) return Outcome::Error;
        if (line.empty()) break;
        headerBytes += line.size();
        if (headerBytes > kMaxHeaderBytes) {
          why = "response headers too large";
          return Outcome::Error;
        }
        const auto colon = line.find(':');
        if (colon == std::string::npos) {
          why = "bad header line";
          return Outcome::Error;
        }
        const std::string name = lower(line.substr(0, colon));
        const std::string value = trim(line.substr(colon + 1));
        if (name == "content-length") {
          char* end = nullptr;
          contentLength = std::strtoll(value.c_str(), &end, 10);
          if (value.empty() || *end != '\0' || contentLength < 0 ||
              contentLength > static_cast<long long>(kMaxBodyBytes)) {
            why = "bad Content-Length: " + value;
            return Outcome::Error;
          }
        } else if (name == "transfer-encoding") {
          chunked = lower(value).find("chunked") != std::string::npos;
        } else if (name == "connection") {
          connection = lower(value);
        }
      }
      if (status < 200) continue;  // 1xx: the real response follows
      closeAfter = connection.find("close") != std::string::npos ||
                   (http10 && connection.find("keep-alive") == std::string::npos);
      if (status == 204 || status == 304 || o_.method == "HEAD") return Outcome::Ok;
      if (chunked) {
        while (true) {
          if (!readLine(line, why)) return Outcome::Error;
          char* end = nullptr;
          const unsigned long long size = std::strtoull(line.c_str(), &end, 16);
          if (end == line.c_str() || size > kMaxBodyBytes) {
            why = "bad chunk size";
            return Outcome::Error;
          }
          if (size == 0) {
            do {  // trailers up to the empty line
              if (!readLine(line, why)) return Outcome::Error;
            } while (!line.empty());
            return Outcome::Ok;
          }
          if (!readExactly(size + 2, why)) return Outcome::Error;
        }
      }
      if (contentLength >= 0) {
        if (!readExactly(static_cast<std::size_t>(contentLength), why)) return Outcome::Error;
        return Outcome::Ok;
      }
      // Neither: the body runs to the end of the connection.
      while (true) {
        const int r = fill(why);
        if (r < 0) return Outcome::Error;
        if (r == 0) break;
      }
      pos_ = buf_.size();
      closeAfter = true;
      return Outcome::Ok;
    }
  }

  SSL_CTX* ctx_;
  const Target& target_;
  const Options& o_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string buf_;
  std::size_t pos_ = 0;
  long long served_ = 0;
};

// ---- the run ----------------------------------------------------------------------------

struct ThreadResult {
  std::vector<std::uint32_t> latenciesUs;
  long long requests = 0;
  long long errors = 0;
  long long non2xx = 0;
  long long reconnects = 0;
};

std::mutex gLogMu;
int gLogged = 0;

void logError(const std::string& what) {
  std::lock_guard lock(gLogMu);
  if (gLogged < 10) std::fprintf(stderr, "sealgate-http-load: %s\n", what.c_str());
  if (++gLogged == 10) std::fprintf(stderr, "sealgate-http-load: (further errors not shown)\n");
}

struct Shared {
  Clock::time_point measureStart;
  Clock::time_point measureEnd;  // duration mode: no request starts after it; else the hard cap
  std::atomic<long long> claimed{0};
};

void worker(SSL_CTX* ctx, const Target& target, const Options& o, const std::string& request, Shared& shared,
            ThreadResult& out) {
  Connection conn(ctx, target, o);
  out.latenciesUs.reserve(o.requests > 0 ? static_cast<std::size_t>(o.requests / o.connections + 16) : 1 << 16);
  bool everConnected = false;
  while (true) {
    const auto start = Clock::now();
    if (start >= shared.measureEnd) break;
    const bool measured = start >= shared.measureStart;
    if (measured && o.requests > 0 && shared.claimed.fetch_add(1) >= o.requests) break;

    std::string why;
    int status = 0;
    bool ok = false;
    // At most one retry, and only when a reused connection was closed by the
    // server before it answered (keep-alive race, max requests per connection).
    for (int attempt = 0; attempt < 2 && !ok; ++attempt) {
      if (!conn.open()) {
        if (!conn.connect(why)) break;
        if (everConnected && measured) ++out.reconnects;
        everConnected = true;
      }
      const auto oc = conn.exchange(request, status, why);
      if (oc == Connection::Outcome::Ok) ok = true;
      if (oc == Connection::Outcome::Error) break;
    }
    const auto end = Clock::now();
    if (!ok) {
      if (measured) {
        ++out.errors;
        logError(why);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // do not spin on a dead server
      continue;
    }
    if (!measured) continue;
    ++out.requests;
    if (status < 200 || status > 299) ++out.non2xx;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(end - start).count();
    out.latenciesUs.push_back(static_cast<std::uint32_t>(std::min<long long>(us, UINT32_MAX)));
  }
  conn.close(true);
}

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::uint32_t percentile(const std::vector<std::uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  // Nearest rank.
  auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App cli{"sealgate-http-load: mTLS keep-alive HTTP/1.1 load client (loopback targets only)"};
  cli.add_option("--host", o.host, "127.0.0.0/8, ::1 or localhost")->capture_default_str();
  cli.add_option("--port", o.port, "server port")->required()->check(CLI::Range(1, 65535));
  cli.add_option("--cacert", o.cacert, "CA certificate (PEM) the server must chain to")
      ->required()
      ->check(CLI::ExistingFile);
  cli.add_option("--cert", o.cert, "client certificate (PEM)")->required()->check(CLI::ExistingFile);
  cli.add_option("--key", o.key, "client private key (PEM)")->required()->check(CLI::ExistingFile);
  cli.add_option("--method", o.method, "GET or POST")->check(CLI::IsMember({"GET", "POST"}))->capture_default_str();
  cli.add_option("--path", o.path, "request target, starting with /")->capture_default_str();
  cli.add_option("--body", o.body, "request body (sent with Content-Length)");
  cli.add_option("--content-type", o.contentType, "Content-Type of the body")->capture_default_str();
  cli.add_option("--connections", o.connections, "threads, one keep-alive connection each")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  auto* dur = cli.add_option("--duration", o.duration, "measured seconds (max 60)")
                  ->check(CLI::Range(0.1, kMaxDurationSeconds))
                  ->capture_default_str();
  auto* req = cli.add_option("--requests", o.requests, "measure this many requests instead (still capped at 60 s)")
                  ->check(CLI::Range(1LL, 100000000LL));
  dur->excludes(req);
  cli.add_option("--warmup", o.warmup, "unrecorded seconds before measuring (max 30)")
      ->check(CLI::Range(0.0, kMaxWarmupSeconds))
      ->capture_default_str();
  cli.add_option("--timeout", o.timeout, "socket read/write timeout, seconds")
      ->check(CLI::Range(0.1, 60.0))
      ->capture_default_str();
  CLI11_PARSE(cli, argc, argv);

  if (o.path.empty() || o.path[0] != '/' || o.path.find_first_of(" \r\n") != std::string::npos) {
    std::fprintf(stderr, "sealgate-http-load: --path must start with / and contain no spaces or line breaks\n");
    return 2;
  }
  if (o.contentType.find_first_of("\r\n") != std::string::npos) {
    std::fprintf(stderr, "sealgate-http-load: --content-type must not contain line breaks\n");
    return 2;
  }
  std::string why;
  auto target = resolveLoopback(o.host, o.port, why);
  if (!target) {
    std::fprintf(stderr, "sealgate-http-load: refusing --host %s: %s\n", o.host.c_str(), why.c_str());
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  SSL_CTX* ctx = makeClientContext(o, why);
  if (ctx == nullptr) {
    std::fprintf(stderr, "sealgate-http-load: %s\n", why.c_str());
    return 2;
  }

  std::string request = o.method + " " + o.path + " HTTP/1.1\r\nHost: " + target->hostHeader +
                        "\r\nUser-Agent: sealgate-http-load\r\nAccept: */*\r\n";
  if (o.method == "POST" || !o.body.empty()) {
    request += "Content-Type: " + o.contentType + "\r\nContent-Length: " + std::to_string(o.body.size()) + "\r\n";
  }
  request += "\r\n" + o.body;

  // Fail fast (and clearly) if the server cannot be reached at all.
  {
    Connection probe(ctx, *target, o);
    if (!probe.connect(why)) {
      std::fprintf(stderr, "sealgate-http-load: %s:%d: %s\n", o.host.c_str(), o.port, why.c_str());
      SSL_CTX_free(ctx);
      return 1;
    }
    probe.close(true);
  }

  Shared shared;
  const auto t0 = Clock::now();
  const auto warmup = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup));
  const double measured = o.requests > 0 ? kMaxDurationSeconds : o.duration;
  shared.measureStart = t0 + warmup;
  shared.measureEnd =
      shared.measureStart + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(measured));

  rusage usageBefore{};
  getrusage(RUSAGE_SELF, &usageBefore);
  std::vector<ThreadResult> results(static_cast<std::size_t>(o.connections));
  std::vector<std::thread> threads;
  threads.reserve(results.size());
  for (auto& r : results) {
    threads.emplace_back(worker, ctx, std::cref(*target), std::cref(o), std::cref(request), std::ref(shared),
                         std::ref(r));
  }
  for (auto& t : threads) t.join();
  const auto t1 = Clock::now();
  rusage usageAfter{};
  getrusage(RUSAGE_SELF, &usageAfter);
  SSL_CTX_free(ctx);
  auto cpuSeconds = [](const rusage& u) {
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  const double clientCpu = cpuSeconds(usageAfter) - cpuSeconds(usageBefore);

  ThreadResult total;
  for (auto& r : results) {
    total.requests += r.requests;
    total.errors += r.errors;
    total.non2xx += r.non2xx;
    total.reconnects += r.reconnects;
    total.latenciesUs.insert(total.latenciesUs.end(), r.latenciesUs.begin(), r.latenciesUs.end());
  }
  std::sort(total.latenciesUs.begin(), total.latenciesUs.end());
  const double seconds = std::max(std::chrono::duration<double>(t1 - shared.measureStart).count(), 1e-9);

  std::printf(
      "{\"path\":%s,\"method\":%s,\"connections\":%d,\"requests\":%lld,\"errors\":%lld,\"non_2xx\":%lld,"
      "\"reconnects\":%lld,\"seconds\":%.3f,\"rps\":%.1f,\"p50_us\":%u,\"p90_us\":%u,\"p99_us\":%u,\"max_us\":%u,"
      "\"client_cpu_s\":%.3f}\n",
      jsonString(o.path).c_str(), jsonString(o.method).c_str(), o.connections, total.requests, total.errors,
      total.non2xx, total.reconnects, seconds, static_cast<double>(total.requests) / seconds,
      percentile(total.latenciesUs, 50), percentile(total.latenciesUs, 90), percentile(total.latenciesUs, 99),
      total.latenciesUs.empty() ? 0U : total.latenciesUs.back(), clientCpu);
  std::fflush(stdout);
  return total.errors > 0 || total.requests == 0 ? 1 : 0;
}
