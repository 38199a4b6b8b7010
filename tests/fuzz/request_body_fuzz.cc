// libFuzzer target: arbitrary bytes as a /v1/authorize body (parsed as the HTTP
// layer does, by parseJson: depth-capped, no repeated keys). Must never crash; on
// success every item is either denied with a URI_* code or carries a canonical
// URI of the caller's tenant.
#include <cstddef>
#include <cstdint>
#include <string>

#include "appliance/server/request_bodies.h"
#include "core/json_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = sealgate::parseJson(std::span<const std::uint8_t>(data, size));
  if (!parsed) {
    const auto& code = parsed.error().code;
    using sealgate::ErrorCode;
    if (code != ErrorCode::BadJson && code != ErrorCode::JsonTooDeep && code != ErrorCode::JsonDuplicateKey)
      __builtin_trap();
    return 0;
  }
  if (sealgate::jsonDepth(*parsed) > sealgate::kMaxJsonDepth) __builtin_trap();
  auto items = sealgate::appliance::parseAuthorizeBody(*parsed, "acme", 128);
  if (!items.ok()) {
    const auto& code = items.error().code;
    using sealgate::ErrorCode;
    if (code != ErrorCode::InvalidRequest && code != ErrorCode::UnknownField) __builtin_trap();
    return 0;
  }
  if (items->empty() || items->size() > 128) __builtin_trap();
  for (std::size_t i = 0; i < items->size(); ++i) {
    const auto& item = (*items)[i];
    if (item.index != i || item.action.empty()) __builtin_trap();
    if (item.uri.has_value() == !item.denyReason.empty()) __builtin_trap();
    if (item.uri && item.uri->tenant() != "acme") __builtin_trap();
    if (!item.uri && item.denyReason.rfind("URI_", 0) != 0) __builtin_trap();
  }
  return 0;
}
