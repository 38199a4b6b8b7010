// Test support: a JSON document nested `depth` arrays deep around `leaf`, built
// top-down without recursion (a copy or a dump of it would recurse; nlohmann's
// destructor does not). Header-only, for core's and the connectors' tests.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>

namespace sealgate::testing {

inline nlohmann::json deepJson(std::size_t depth, const nlohmann::json& leaf) {
  nlohmann::json root = nlohmann::json::array();
  nlohmann::json* at = &root;
  for (std::size_t i = 1; i < depth; ++i) {
    at->push_back(nlohmann::json::array());
    at = &at->back();
  }
  at->push_back(leaf);
  return root;
}

}  // namespace sealgate::testing
