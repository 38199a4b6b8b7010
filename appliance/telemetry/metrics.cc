#include "appliance/telemetry/metrics.h"

#include <spdlog/fmt/fmt.h>

#include <array>
#include <charconv>
#include <iterator>

namespace sealgate::appliance {

namespace {

constexpr std::array<double, 16> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                             0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

// Label values are escaped as the text format asks (\\, \" and \n).
std::string labelText(const Metrics::Labels& labels, const std::string& extra = "") {
  std::string out;
  for (const auto& [k, v] : labels) {
    out += (out.empty() ? "" : ",") + k + "=\"";
    for (char c : v) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  if (!extra.empty()) out += (out.empty() ? "" : ",") + extra;
  return out.empty() ? "" : "{" + out + "}";
}

// The shortest text that reads back as `v` (0.0025, not 0.0025000000000000001).
std::string number(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

}  // namespace

void Metrics::add(const std::string& name, const std::string& help, const Labels& labels, double by) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.help = help;
  auto& s = f.series[labelText(labels)];
  s.labels = labels;
  s.value += by;
}

void Metrics::observe(const std::string& name, const std::string& help, const Labels& labels, double seconds) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.help = help;
  f.histogram = true;
  auto& s = f.series[labelText(labels)];
  s.labels = labels;
  s.buckets.resize(kBuckets.size());
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++s.buckets[i];
      break;
    }
  }
  s.sum += seconds;
  ++s.count;
}

std::string Metrics::family(const std::string& name, const std::string& help, const char* type,
                            const std::vector<std::pair<Labels, double>>& samples) {
  if (samples.empty()) return {};
  std::string out;
  auto line = std::back_inserter(out);
  fmt::format_to(line, "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  for (const auto& [labels, value] : samples) fmt::format_to(line, "{}{} {}\n", name, labelText(labels), number(value));
  return out;
}

std::string Metrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  auto line = std::back_inserter(out);
  for (const auto& [name, f] : families_) {
    fmt::format_to(line, "# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, f.histogram ? "histogram" : "counter");
    for (const auto& [text, s] : f.series) {
      if (!f.histogram) {
        fmt::format_to(line, "{}{} {}\n", name, text, number(s.value));
        continue;
      }
      std::uint64_t cumulative = 0;  // buckets are cumulative, in ascending order
      for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        cumulative += s.buckets[i];
        fmt::format_to(line, "{}_bucket{} {}\n", name, labelText(s.labels, "le=\"" + number(kBuckets[i]) + "\""),
                       cumulative);
      }
      fmt::format_to(line, "{}_bucket{} {}\n", name, labelText(s.labels, "le=\"+Inf\""), s.count);
      fmt::format_to(line, "{}_sum{} {}\n", name, text, number(s.sum));
      fmt::format_to(line, "{}_count{} {}\n", name, text, s.count);
    }
  }
  return out;
}

}  // namespace sealgate::appliance
