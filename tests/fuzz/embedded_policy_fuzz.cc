// libFuzzer target: arbitrary bytes as an embedded policy. On success, decisions
// must be one per request, and every deny must carry a reason. The same bytes as
// an editor's text (policy_text.h): a fault, when there is one, lies inside the
// text, and "valid" agrees with Policy::parse.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "appliance/policy/embedded_policy.h"
#include "appliance/policy/policy_text.h"

namespace {

void checkText(const std::string& input) {
  const auto check = sealgate::appliance::checkPolicyText(input);
  if (!check.fault) {
    if (!sealgate::appliance::Policy::parse(input).ok()) __builtin_trap();
    return;
  }
  const auto lines = static_cast<std::size_t>(std::count(input.begin(), input.end(), '\n')) + 1;
  const auto& at = check.fault->at;
  if (at.line < 1 || at.line > lines || at.column < 1 || at.column > input.size() + 1) __builtin_trap();
  if (sealgate::appliance::jsonPointerOffset(input, "/rules/0/resources/0") > input.size()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  checkText(input);
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
