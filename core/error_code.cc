#include "core/error_code.h"

#include <nlohmann/json.hpp>
#include <ostream>

namespace sealgate {

std::ostream& operator<<(std::ostream& os, ErrorCode code) { return os << errorCodeName(code); }

void to_json(nlohmann::json& j, ErrorCode code) { j = errorCodeName(code); }

}  // namespace sealgate
