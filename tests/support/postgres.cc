#include "tests/support/postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>

namespace sealgate::testing {
namespace {

constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

std::string asPostgres(const std::string& cmd) { return ::geteuid() == 0 ? "runuser -u postgres -- " + cmd : cmd; }

int run(const std::string& cmd) { return std::system(cmd.c_str()); }

}  // namespace

std::uint16_t freeLoopbackPort() {
  std::random_device rd;
  std::mt19937 gen(rd());
  std::uniform_int_distribution<int> dist(15000, 31999);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const auto port = static_cast<std::uint16_t>(dist(gen));
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // No SO_REUSEADDR: a port held by any socket, even as an outgoing source port, fails.
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (free) return port;
  }
  return 0;
}

std::unique_ptr<Postgres> Postgres::start() {
  char tmpl[] = "/tmp/sealgate-pg-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  if (d == nullptr) return nullptr;
  std::unique_ptr<Postgres> pg(new Postgres());
  pg->dir_ = d;
  if (::geteuid() == 0 && run("chown postgres: " + pg->dir_) != 0) return nullptr;
  ::chmod(pg->dir_.c_str(), 0700);
  const std::string init = asPostgres(std::string(kPgBin) + "/initdb -D " + pg->dir_ +
                                      "/data -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust "
                                      "--auth-host=scram-sha-256 >" +
                                      pg->dir_ + "/initdb.log 2>&1");
  if (run("cd /tmp && " + init) != 0) {
    std::cerr << "initdb failed, see " << pg->dir_ << "/initdb.log\n";
    return nullptr;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    pg->port_ = freeLoopbackPort();
    const std::string start = asPostgres(std::string(kPgBin) + "/pg_ctl -D " + pg->dir_ + "/data -l " + pg->dir_ +
                                         "/log -w -t 30 start -o \"-p " + std::to_string(pg->port_) + " -k " +
                                         pg->dir_ + " -c listen_addresses=127.0.0.1 -c fsync=off\" >/dev/null 2>&1");
    if (run("cd /tmp && " + start) == 0) return pg;
  }
  std::cerr << "PostgreSQL did not start, see " << pg->dir_ << "/log\n";
  return nullptr;
}

Postgres::~Postgres() {
  if (port_ != 0) {
    run("cd /tmp && " +
        asPostgres(std::string(kPgBin) + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop >/dev/null 2>&1"));
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string Postgres::psql(const std::string& sql, const std::string& db) const {
  const std::string cmd = "psql -X -A -t -q -h " + dir_ + " -p " + std::to_string(port_) + " -U postgres -d " + db +
                          " -v ON_ERROR_STOP=1 -c \"" + sql + "\" 2>&1";
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace sealgate::testing
