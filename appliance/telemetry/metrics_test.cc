#include "appliance/telemetry/metrics.h"

#include <gtest/gtest.h>

namespace sealgate::appliance {
namespace {

TEST(Metrics, CountersAndCumulativeHistogramsInTextFormat) {
  Metrics m;
  EXPECT_EQ(m.render(), "");
  m.add("sg_total", "things", {{"connector", "rest"}, {"outcome", "ok"}});
  m.add("sg_total", "things", {{"connector", "rest"}, {"outcome", "ok"}}, 2);
  m.add("sg_total", "things", {{"connector", "a\"b\\c\nd"}});
  m.observe("sg_seconds", "latency", {{"connector", "rest"}}, 0.003);
  m.observe("sg_seconds", "latency", {{"connector", "rest"}}, 0.2);
  m.observe("sg_seconds", "latency", {{"connector", "rest"}}, 42);
  const std::string text = m.render();
  EXPECT_NE(text.find("# TYPE sg_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("sg_total{connector=\"rest\",outcome=\"ok\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("sg_total{connector=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE sg_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("sg_seconds_bucket{connector=\"rest\",le=\"0.0025\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("sg_seconds_bucket{connector=\"rest\",le=\"0.005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("sg_seconds_bucket{connector=\"rest\",le=\"0.25\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("sg_seconds_bucket{connector=\"rest\",le=\"10\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("sg_seconds_bucket{connector=\"rest\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("sg_seconds_count{connector=\"rest\"} 3\n"), std::string::npos);
  EXPECT_LT(text.find("le=\"0.001\""), text.find("le=\"0.5\""));  // ascending bucket order
  EXPECT_LT(text.find("le=\"0.5\""), text.find("le=\"+Inf\""));
}

}  // namespace
}  // namespace sealgate::appliance
