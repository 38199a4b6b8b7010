// Test support: a fresh temporary directory (the caller removes it).
#pragma once

#include <stdlib.h>

#include <stdexcept>
#include <string>

namespace sealgate::testing {

inline std::string makeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

}  // namespace sealgate::testing
