#include "tests/support/swtpm.h"

#include <stdexcept>

namespace sealgate::testing {

SwtpmLocalCa::SwtpmLocalCa(const std::string& dir) {
  auto ca = attest::SwtpmLocalCa::create(dir);
  if (!ca) throw std::runtime_error(ca.error().describe());
  ca_ = std::make_unique<attest::SwtpmLocalCa>(std::move(*ca));
}

void SwtpmLocalCa::manufacture(const std::string& stateDir) const {
  if (auto made = ca_->manufacture(stateDir); !made) throw std::runtime_error(made.error().describe());
}

std::string SwtpmLocalCa::bundlePath() const {
  auto path = ca_->writeBundle();
  if (!path) throw std::runtime_error(path.error().describe());
  return *path;
}

Swtpm::Swtpm(const std::string& dir) {
  auto started = attest::SwtpmProcess::start(dir);
  if (!started) throw std::runtime_error(started.error().describe());
  process_ = std::move(*started);
}

Swtpm::Swtpm(const std::string& dir, const SwtpmLocalCa& ca) {
  ca.manufacture(dir);
  auto started = attest::SwtpmProcess::start(dir);
  if (!started) throw std::runtime_error(started.error().describe());
  process_ = std::move(*started);
}

}  // namespace sealgate::testing
