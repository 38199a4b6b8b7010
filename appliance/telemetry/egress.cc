#include "appliance/telemetry/egress.h"

#include <array>
#include <atomic>

namespace sealgate::appliance {
namespace {

constexpr const char* kNames[] = {"log_line", "response", "audit_event", "connector_output"};
std::array<std::atomic<std::uint64_t>, std::size(kNames)> counts{};

}  // namespace

void countEgressBlock(EgressBlocked what) { counts[static_cast<std::size_t>(what)].fetch_add(1); }

std::vector<std::pair<const char*, std::uint64_t>> egressBlockCounts() {
  std::vector<std::pair<const char*, std::uint64_t>> out;
  for (std::size_t i = 0; i < counts.size(); ++i) out.emplace_back(kNames[i], counts[i].load());
  return out;
}

}  // namespace sealgate::appliance
