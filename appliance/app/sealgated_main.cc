// sealgated: the appliance daemon.
#include <Poco/Net/SSLManager.h>
#include <systemd/sd-daemon.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include "appliance/app/appliance.h"
#include "appliance/telemetry/logging.h"
#include "core/error_code.h"

using namespace sealgate;
using namespace sealgate::appliance;

// Until SIGTERM or SIGINT (returned): tells systemd the daemon is ready
// (Type=notify; nothing happens without NOTIFY_SOCKET), pings its watchdog at
// half its interval when WatchdogSec= is set (the main thread answering is the
// liveness it proves), and reloads the policy and the TLS key and certificates
// on SIGHUP (a failed reload is logged and changes nothing).
static int serve(Appliance& app, const sigset_t& handled, const std::string& configPath) {
  std::uint64_t watchdogUsec = 0;
  const bool watchdog = sd_watchdog_enabled(0, &watchdogUsec) > 0 && watchdogUsec > 0;
  sd_notify(0, "READY=1\nSTATUS=serving");
  for (;;) {
    int sig = 0;
    if (watchdog) {
      const std::uint64_t half = watchdogUsec / 2;
      const timespec wait{static_cast<time_t>(half / 1000000), static_cast<long>(half % 1000000) * 1000};
      sd_notify(0, "WATCHDOG=1");
      sig = sigtimedwait(&handled, nullptr, &wait);
      if (sig < 0) continue;  // EAGAIN: the interval passed; EINTR: try again
    } else if (sigwait(&handled, &sig) != 0) {
      continue;
    }
    if (sig != SIGHUP) return sig;
    sd_notify(0, "RELOADING=1");
    if (auto reloaded = app.reloadPolicy(); !reloaded) {
      logEvent(LogLevel::Error, "policy_reload_failed",
               {{"code", reloaded.error().code}, {"error", reloaded.error().describe()}});
    }
    // The TLS key and certificates named in the config file as it is now.
    auto checked = Config::checkFile(configPath);
    if (!checked.config) {
      logEvent(LogLevel::Error, "tls_reload_failed",
               {{"code", ErrorCode::ConfigInvalid}, {"problems", checked.problems.size()}});
    } else if (auto tls = app.reloadTls(*checked.config); !tls) {
      logEvent(LogLevel::Error, "tls_reload_failed", {{"code", tls.error().code}, {"error", tls.error().describe()}});
    }
    sd_notify(0, "READY=1\nSTATUS=serving");
  }
}

// main() without the last line of defence below.
static int run(int argc, char** argv) {
  CLI::App cli{"sealgated: the sealgate secrets enforcement appliance daemon"};
  cli.set_version_flag("--version", std::string("sealgated ") + SEALGATE_VERSION);
  std::string configPath, pepListen, adminListen, pepPublicUrl;
  cli.add_option("--config", configPath, "path to sealgated.conf")->required();
  cli.add_option("--pep-listen", pepListen, "override pep.listen (host:port; port 0 picks a free port)");
  cli.add_option("--admin-listen", adminListen, "override admin.listen (host:port)");
  cli.add_option("--pep-public-url", pepPublicUrl, "override pep.public_url (https://host[:port])");
  CLI11_PARSE(cli, argc, argv);

  auto checked = Config::checkFile(configPath);
  auto& config = checked.config;
  if (!config) {
    // The code, then every problem on its own line (as `sealgate config check` prints them).
    std::cerr << "sealgated: " << errorCodeName(ErrorCode::ConfigInvalid) << ": " << configPath << ": "
              << checked.problems.size() << (checked.problems.size() == 1 ? " problem" : " problems") << "\n";
    for (const auto& problem : checked.problems) std::cerr << "sealgated:   " << problem.message << "\n";
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

  // Block the stop and reload signals in every thread; main waits for them below.
  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);
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
      const int sig = serve(**app, handled, configPath);
      logEvent(LogLevel::Info, "stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
      sd_notify(0, "STOPPING=1");
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
