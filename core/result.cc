#include "core/result.h"

#include <cstdio>

namespace sealgate {

std::string Error::describe() const {
  std::string out = std::string(errorCodeName(code)) + ": " + message;
  if (!operation.empty()) {
    char rv[32];
    std::snprintf(rv, sizeof rv, "0x%lx", native);
    out += " (" + operation + " returned " + rv + ")";
  }
  return out;
}

}  // namespace sealgate
