// Counters for GET /metrics (Prometheus text format 0.0.4). Labels are fixed
// vocabularies (connector names, outcome codes), never identities, URIs or
// values; the rendered text still passes the egress guard like every response.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sealgate::appliance {

class Metrics {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;
  // Adds `by` to the counter `name` with `labels`; `help` describes the family.
  void add(const std::string& name, const std::string& help, const Labels& labels, double by = 1);
  // Records one observation in the histogram `name` (seconds).
  void observe(const std::string& name, const std::string& help, const Labels& labels, double seconds);
  std::string render() const;

  // A family whose values are read when /metrics is scraped (gauges, or counters
  // kept elsewhere): its text, in the same format; no family when `samples` is empty.
  static std::string family(const std::string& name, const std::string& help, const char* type,
                            const std::vector<std::pair<Labels, double>>& samples);

 private:
  struct Series {
    Labels labels;
    double value = 0;                    // counter
    std::vector<std::uint64_t> buckets;  // histogram: counts per upper bound (kBuckets), not cumulative
    double sum = 0;
    std::uint64_t count = 0;
  };
  struct Family {
    std::string help;
    bool histogram = false;
    std::map<std::string, Series> series;  // by rendered labels
  };
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

}  // namespace sealgate::appliance
