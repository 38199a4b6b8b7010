// sealgate-test-peer: the HttpsPeer as a process, for the e2e tests, the demo
// and the HTTP benchmark. Prints "port N" once listening; runs until SIGTERM.
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "tests/support/https_peer.h"

int main(int argc, char** argv) {
  CLI::App app{"a loopback HTTPS peer for sealgate's tests (routes: /echo /ok /bytes?n= /status?code= /hang)"};
  std::string cert, key;
  std::uint16_t port = 0;
  int threads = 16;
  app.add_option("--cert", cert, "server certificate (PEM)")->required();
  app.add_option("--key", key, "its private key (PEM)")->required();
  app.add_option("--port", port, "port on 127.0.0.1 (0: any free one)");
  app.add_option("--threads", threads, "worker threads");
  CLI11_PARSE(app, argc, argv);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before the server's threads start
  auto peer = sealgate::testing::HttpsPeer::start(cert, key, port, threads);
  if (!peer) return 1;
  std::cout << "port " << peer->port() << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  return 0;
}
