#include "tests/support/swtpm.h"

#include <stdexcept>

namespace sealgate::testing {

Swtpm::Swtpm(const std::string& dir) {
  auto started = attest::SwtpmProcess::start(dir);
  if (!started) throw std::runtime_error(started.error().describe());
  process_ = std::move(*started);
}

}  // namespace sealgate::testing
