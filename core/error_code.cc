#include "core/error_code.h"

#include <ostream>

namespace sealgate {

std::ostream& operator<<(std::ostream& os, ErrorCode code) { return os << errorCodeName(code); }

}  // namespace sealgate
