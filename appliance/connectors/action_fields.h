// Shared checks of connector action objects: strict fields, one error code.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>

#include "core/interfaces/connector.h"
#include "core/result.h"

namespace sealgate::connectors {

inline Error invalidAction(const std::string& message) { return makeError(connector_errc::kInvalidAction, message); }

// `action` is an object whose keys are all in `allowed` and include `required`.
inline Result<void> onlyFields(const nlohmann::json& action, std::initializer_list<const char*> allowed,
                               std::initializer_list<const char*> required) {
  if (!action.is_object()) return invalidAction("'action' must be an object");
  for (const auto& [key, value] : action.items()) {
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (!known) return invalidAction("unknown field in the action: " + key.substr(0, 64));
  }
  for (const char* r : required) {
    if (!action.contains(r)) return invalidAction(std::string("the action needs '") + r + "'");
  }
  return {};
}

// A whole number in [min, max] (JSON from a body parses as unsigned, from code as signed).
inline bool intInRange(const nlohmann::json& v, std::int64_t min, std::int64_t max) {
  return v.is_number_integer() && v.get<std::int64_t>() >= min && v.get<std::int64_t>() <= max;
}

}  // namespace sealgate::connectors
