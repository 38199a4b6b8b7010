#include "appliance/telemetry/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

#include "appliance/telemetry/egress.h"
#include "core/time_format.h"

namespace sealgate::appliance {
namespace {

std::shared_ptr<spdlog::logger>& logger() {
  static std::shared_ptr<spdlog::logger> l = spdlog::stderr_logger_mt("sealgate");
  return l;
}

std::string utcNow() { return rfc3339Millis(std::chrono::system_clock::now()); }

std::string dumpLine(const nlohmann::json& line) {
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string guardedLogLine(nlohmann::json line) {
  const EgressGuard& guard = egressGuard();
  if (!guard.active()) return dumpLine(line);
  std::string text = dumpLine(guard.scrubJson(std::move(line)));
  if (!guard.carries(text)) return text;
  secureWipe(text.data(), text.size());
  countEgressBlock(EgressBlocked::LogLine);
  return dumpLine({{"ts", utcNow()},
                   {"level", "error"},
                   {"event", "egress_blocked"},
                   {"what", "log_line"},
                   {"code", egress_errc::kBlocked}});
}

void initLogging(const std::string& level, const std::string& file) {
  if (!file.empty()) {
    spdlog::drop("sealgate");
    logger() = spdlog::basic_logger_mt("sealgate", file);
  }
  logger()->set_pattern("%v");
  logger()->set_level(spdlog::level::from_str(level));
  logger()->flush_on(spdlog::level::info);
}

void logEvent(LogLevel level, const std::string& event, nlohmann::json fields) {
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  static constexpr spdlog::level::level_enum kLevels[] = {spdlog::level::debug, spdlog::level::info,
                                                          spdlog::level::warn, spdlog::level::err};
  const auto idx = static_cast<int>(level);
  if (!logger()->should_log(kLevels[idx])) return;
  nlohmann::json line = {{"ts", utcNow()}, {"level", kNames[idx]}, {"event", event}};
  for (auto& [k, v] : fields.items()) line[k] = v;
  logger()->log(kLevels[idx], "{}", guardedLogLine(std::move(line)));
}

}  // namespace sealgate::appliance
