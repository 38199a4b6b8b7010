// Query strings of admin requests (application/x-www-form-urlencoded), read
// strictly. Kept apart from the listener so that the fuzz targets can build it.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.h"

namespace sealgate::appliance {

// The value of `name` in a query string ('+' is a space, %XX a byte); nullopt
// when absent, an error when its encoding is broken or it holds a control
// character.
Result<std::optional<std::string>> queryValue(const std::string& query, std::string_view name);

// Every parameter named in `query` is one of `known` and appears once; else
// INVALID_REQUEST naming the parameter (an unknown name is shown in printable
// ASCII, cut at 64 bytes) and listing the known ones.
Result<void> onlyKnownQueryParams(std::string_view query, std::span<const std::string_view> known);

}  // namespace sealgate::appliance
