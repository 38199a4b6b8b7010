#include "core/time_format.h"

#include <cstdio>

namespace sealgate {
namespace {

// Whole seconds since the epoch and the sub-second remainder in `Unit`, both
// floored (a time before 1970 keeps a non-negative fraction).
template <typename Unit>
std::pair<std::int64_t, std::int64_t> split(SystemTime t) {
  const auto total = std::chrono::floor<Unit>(t.time_since_epoch());
  const auto secs = std::chrono::floor<std::chrono::seconds>(total);
  return {secs.count(), (total - secs).count()};
}

std::tm calendarOf(std::int64_t unixSeconds) {
  const std::time_t tt = static_cast<std::time_t>(unixSeconds);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}

std::string format(const char* fmt, std::int64_t unixSeconds) {
  const std::tm tm = calendarOf(unixSeconds);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, fmt, &tm);
  return std::string(buf, n);
}

}  // namespace

std::tm utcCalendar(SystemTime t) { return calendarOf(split<std::chrono::seconds>(t).first); }

std::string rfc3339Seconds(std::int64_t unixSeconds) { return format("%Y-%m-%dT%H:%M:%SZ", unixSeconds); }
std::string rfc3339Seconds(SystemTime t) { return rfc3339Seconds(split<std::chrono::seconds>(t).first); }

std::string rfc3339Millis(SystemTime t) {
  const auto [secs, ms] = split<std::chrono::milliseconds>(t);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms));
  return format("%Y-%m-%dT%H:%M:%S", secs) + frac;
}

std::string rfc3339Micros(SystemTime t) {
  const auto [secs, us] = split<std::chrono::microseconds>(t);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06dZ", static_cast<int>(us));
  return format("%Y-%m-%dT%H:%M:%S", secs) + frac;
}

std::string iso8601BasicSeconds(SystemTime t) { return format("%Y%m%dT%H%M%SZ", split<std::chrono::seconds>(t).first); }

std::string postgresTimestamp(SystemTime t) {
  return format("%Y-%m-%d %H:%M:%S+00", split<std::chrono::seconds>(t).first);
}

}  // namespace sealgate
