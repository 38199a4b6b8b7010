#include "core/key_labels.h"

namespace sealgate {

std::optional<unsigned> parseVersionedLabel(std::string_view label, std::string_view prefix) {
  if (label.size() <= prefix.size() + 2 || label.substr(0, prefix.size()) != prefix ||
      label.substr(prefix.size(), 2) != "-v") {
    return std::nullopt;
  }
  const std::string_view digits = label.substr(prefix.size() + 2);
  if (digits.size() > 9 || digits.front() == '0') return std::nullopt;
  unsigned n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n;
}

std::string versionedLabel(std::string_view prefix, unsigned version) {
  return std::string(prefix) + "-v" + std::to_string(version);
}

std::string tlsLabelBase(std::string_view label) {
  const auto dash = label.rfind("-v");
  if (dash != std::string_view::npos && dash > 0 && parseVersionedLabel(label, label.substr(0, dash))) {
    return std::string(label.substr(0, dash));
  }
  return std::string(label);
}

}  // namespace sealgate
