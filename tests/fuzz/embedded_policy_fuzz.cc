// libFuzzer target: arbitrary bytes as an embedded policy. On success, decisions
// must be one per request, and every deny must carry a reason.
#include <cstddef>
#include <cstdint>
#include <string>

#include "appliance/policy/embedded_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  auto policy = sealgate::appliance::Policy::parse(input);
  if (!policy.ok()) {
    if (policy.error().code != sealgate::ErrorCode::PolicyInvalid) __builtin_trap();
    return 0;
  }
  const sealgate::DecisionSubject who{"spiffe://acme/payments", "acme", "payments"};
  const std::vector<sealgate::DecisionRequest> asks{{0, "secret://acme/kv/app/db#password", "use", "{}"},
                                                    {1, "secret://acme/kv/a/b/c/d", "rotate", "{}"},
                                                    {2, "secret://globex/db/x", "use", "{}"},
                                                    {3, "not a uri", "use", "{}"}};
  for (const auto& ask : asks) {
    auto d = policy->decide(who, ask);
    if (d.index != ask.index) __builtin_trap();
    if (!d.allow && d.reason.empty()) __builtin_trap();
    if (ask.index == 3 && d.allow) __builtin_trap();
  }
  return 0;
}
