#include "core/time_format.h"

#include <gtest/gtest.h>

namespace sealgate {
namespace {

using namespace std::chrono;

// 2026-01-02T03:04:05.678901Z, a Friday.
const SystemTime kT = SystemTime(seconds(1767323045) + microseconds(678901));

TEST(TimeFormat, EveryFormat) {
  EXPECT_EQ(rfc3339Seconds(kT), "2026-01-02T03:04:05Z");
  EXPECT_EQ(rfc3339Seconds(std::int64_t{1767323045}), "2026-01-02T03:04:05Z");
  EXPECT_EQ(rfc3339Millis(kT), "2026-01-02T03:04:05.678Z");
  EXPECT_EQ(rfc3339Micros(kT), "2026-01-02T03:04:05.678901Z");
  EXPECT_EQ(iso8601BasicSeconds(kT), "20260102T030405Z");
  EXPECT_EQ(postgresTimestamp(kT), "2026-01-02 03:04:05+00");
}

TEST(TimeFormat, FractionsAreTruncatedAndZeroPadded) {
  const SystemTime t = SystemTime(seconds(1767323045) + microseconds(999999));
  EXPECT_EQ(rfc3339Seconds(t), "2026-01-02T03:04:05Z");
  EXPECT_EQ(rfc3339Millis(t), "2026-01-02T03:04:05.999Z");
  const SystemTime small = SystemTime(seconds(1767323045) + microseconds(7));
  EXPECT_EQ(rfc3339Millis(small), "2026-01-02T03:04:05.000Z");
  EXPECT_EQ(rfc3339Micros(small), "2026-01-02T03:04:05.000007Z");
}

TEST(TimeFormat, EpochAndBeforeIt) {
  EXPECT_EQ(rfc3339Millis(SystemTime{}), "1970-01-01T00:00:00.000Z");
  // Floored: half a second before the epoch is 23:59:59.500, not 00:00:00.-500.
  EXPECT_EQ(rfc3339Millis(SystemTime(milliseconds(-500))), "1969-12-31T23:59:59.500Z");
  EXPECT_EQ(rfc3339Seconds(SystemTime(milliseconds(-500))), "1969-12-31T23:59:59Z");
}

TEST(TimeFormat, UtcCalendar) {
  const std::tm tm = utcCalendar(kT);
  EXPECT_EQ(tm.tm_year, 126);
  EXPECT_EQ(tm.tm_mon, 0);
  EXPECT_EQ(tm.tm_mday, 2);
  EXPECT_EQ(tm.tm_wday, 5);  // Friday
  EXPECT_EQ(tm.tm_hour * 60 + tm.tm_min, 3 * 60 + 4);
  EXPECT_EQ(tm.tm_sec, 5);
}

}  // namespace
}  // namespace sealgate
