// libFuzzer target: arbitrary bytes as a POST /admin/v1/breakglass/requests body
// (appliance/breakglass/request.cc, compiled in directly). Must never crash; a
// refusal carries INVALID_REQUEST, UNKNOWN_FIELD or a URI_* code; an accepted ask
// is normalized (sorted, no repeats, prefixes of its tenant, a bounded duration),
// and its digest is a function of it alone.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "appliance/breakglass/request.h"
#include "core/json_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sealgate::appliance::breakglass;
  using sealgate::ErrorCode;
  auto parsed = sealgate::parseJson(std::span<const std::uint8_t>(data, size));
  if (!parsed) return 0;
  auto ask = parseAsk(*parsed, 3600);
  if (!ask) {
    const ErrorCode code = ask.error().code;
    const std::string name = sealgate::errorCodeName(code);
    if (code != ErrorCode::InvalidRequest && code != ErrorCode::UnknownField && name.rfind("URI_", 0) != 0) {
      __builtin_trap();
    }
    return 0;
  }
  const auto sortedUnique = [](const std::vector<std::string>& v) {
    return std::is_sorted(v.begin(), v.end()) && std::adjacent_find(v.begin(), v.end()) == v.end();
  };
  if (isApproverChange(ask->mode)) {
    // An approver change names a valid approver and no scope at all.
    if (!validApproverName(ask->approver) || !ask->tenant.empty() || !ask->uriPrefixes.empty() ||
        !ask->actions.empty()) {
      __builtin_trap();
    }
  } else {
    if (!ask->approver.empty() || ask->uriPrefixes.empty() || ask->actions.empty()) __builtin_trap();
  }
  if (!sortedUnique(ask->uriPrefixes) || !sortedUnique(ask->actions)) __builtin_trap();
  if (ask->durationSeconds < 1 || ask->durationSeconds > 3600) __builtin_trap();
  for (const auto& p : ask->uriPrefixes) {
    if (p.rfind("secret://" + ask->tenant + "/", 0) != 0) __builtin_trap();
    if (!inScope(*ask, p, ask->actions.front())) __builtin_trap();
  }
  Request a, b;
  a.ask = *ask;
  b.ask = *ask;
  if (requestDigest(a) != requestDigest(b)) __builtin_trap();
  return 0;
}
