// UTC time as the project prints it: one formatter for every format in use.
// All of them are UTC ("Z" or "+00"), proleptic Gregorian, and fractions are
// truncated (never rounded up into the next second).
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

namespace sealgate {

using SystemTime = std::chrono::system_clock::time_point;

// Broken-down UTC time (gmtime_r) of the second `t` falls in.
std::tm utcCalendar(SystemTime t);

// 2026-01-02T03:04:05Z (RFC 3339, whole seconds).
std::string rfc3339Seconds(SystemTime t);
std::string rfc3339Seconds(std::int64_t unixSeconds);
// 2026-01-02T03:04:05.678Z (milliseconds).
std::string rfc3339Millis(SystemTime t);
// 2026-01-02T03:04:05.678901Z (microseconds, as Vault prints its times).
std::string rfc3339Micros(SystemTime t);
// 20260102T030405Z (ISO 8601 basic: file-name safe).
std::string iso8601BasicSeconds(SystemTime t);
// 2026-01-02 03:04:05+00 (a PostgreSQL timestamptz literal).
std::string postgresTimestamp(SystemTime t);

}  // namespace sealgate
