// Structured JSON logs: one object per line with ts, level, event and fields.
// Callers pass resource_refs and identities, never secret values or full URIs.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace sealgate::appliance {

enum class LogLevel { Debug, Info, Warn, Error };

// `file` empty: stderr.
void initLogging(const std::string& level, const std::string& file);
void logEvent(LogLevel level, const std::string& event, nlohmann::json fields = nlohmann::json::object());

// The text written for one log line, through the egress guard: its strings and
// keys scrubbed of live secret values; a line that would still carry one (e.g.
// as a number) is replaced by a fixed {"event":"egress_blocked"} line.
std::string guardedLogLine(nlohmann::json line);

}  // namespace sealgate::appliance
