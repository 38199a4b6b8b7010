#include "appliance/metrics.h"

#include <cstdio>

namespace sealgate::appliance {

namespace {

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

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

constexpr double kBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

}  // namespace

void Metrics::add(const std::string& name, const std::string& help, const Labels& labels, double by) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.help = help;
  f.type = "counter";
  f.samples[name + labelText(labels)] += by;
}

void Metrics::observe(const std::string& name, const std::string& help, const Labels& labels, double seconds) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.help = help;
  f.type = "histogram";
  for (double le : kBuckets) {
    f.samples[name + "_bucket" + labelText(labels, "le=\"" + number(le) + "\"")] += seconds <= le ? 1 : 0;
  }
  f.samples[name + "_bucket" + labelText(labels, "le=\"+Inf\"")] += 1;
  f.samples[name + "_sum" + labelText(labels)] += seconds;
  f.samples[name + "_count" + labelText(labels)] += 1;
}

std::string Metrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
    for (const auto& [sample, value] : f.samples) out += sample + " " + number(value) + "\n";
  }
  return out;
}

}  // namespace sealgate::appliance
