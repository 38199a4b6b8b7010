// sealgated: the appliance daemon.
#include <Poco/Net/SSLManager.h>
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "appliance/app/appliance.h"
#include "appliance/telemetry/logging.h"

using namespace sealgate;
using namespace sealgate::appliance;

// main() without the last line of defence below.
static int run(int argc, char** argv) {
  CLI::App cli{"sealgated: the sealgate secrets enforcement appliance daemon"};
  std::string configPath, pepListen, adminListen, pepPublicUrl;
  cli.add_option("--config", configPath, "path to sealgated.conf")->required();
  cli.add_option("--pep-listen", pepListen, "override pep.listen (host:port; port 0 picks a free port)");
  cli.add_option("--admin-listen", adminListen, "override admin.listen (host:port)");
  cli.add_option("--pep-public-url", pepPublicUrl, "override pep.public_url (https://host[:port])");
  CLI11_PARSE(cli, argc, argv);

  auto config = Config::load(configPath);
  if (!config) {
    std::cerr << "sealgated: " << config.error().describe() << "\n";
    return 2;
  }
  if (!pepListen.empty()) config->pep.listen = pepListen;
  if (!adminListen.empty()) config->admin.listen = adminListen;
  if (!pepPublicUrl.empty()) {
    if (auto url = parsePublicUrl(pepPublicUrl); !url) {
      std::cerr << "sealgated: " << url.error().describe() << "\n";
      return 2;
    }
    config->pep.publicUrl = pepPublicUrl;
  }
  // SoftHSM2 reads SOFTHSM2_CONF when the module initialises: set it first.
  if (!config->hsm.softhsm2Conf.empty()) setenv("SOFTHSM2_CONF", config->hsm.softhsm2Conf.c_str(), 1);
  initLogging(logThresholdName(config->logLevel), config->logFile);

  // Block the stop signals in every thread; main waits for them below.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // A file-size limit (e.g. systemd LimitFSIZE=) must make audit writes fail
  // with EFBIG, so requests are denied with AUDIT_UNAVAILABLE, not kill the daemon.
  std::signal(SIGXFSZ, SIG_IGN);

  Poco::Net::initializeSSL();
  int exitCode = 0;
  {
    auto app = Appliance::start(*config);
    if (!app) {
      logEvent(LogLevel::Error, "start_failed", {{"code", app.error().code}, {"error", app.error().describe()}});
      std::cerr << "sealgated: " << app.error().describe() << "\n";
      exitCode = 1;
    } else {
      int sig = 0;
      sigwait(&stopSignals, &sig);
      logEvent(LogLevel::Info, "stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
      (*app)->stop();
      logEvent(LogLevel::Info, "stopped");
    }
  }
  Poco::Net::uninitializeSSL();
  return exitCode;
}

int main(int argc, char** argv) {
  // An exception that escapes run() is a bug; it ends the process with a message
  // and a distinct exit status instead of std::terminate's abort.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "sealgated: unexpected error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "sealgated: unexpected error\n";
  }
  return 70;  // EX_SOFTWARE
}
