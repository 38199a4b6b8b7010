// Shared by the connector tests: slot values held as Secrets, and error checks
// that also prove no secret reached the error.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/interfaces/connector.h"
#include "core/result.h"
#include "core/secret.h"

namespace sealgate::connectors::testing {

// Named slot values for one action.
class Slots {
 public:
  Slots& set(const std::string& name, const std::string& value) {
    auto s = Secret::copyFrom(std::string_view(value));
    EXPECT_TRUE(s.ok());
    values_[name] = std::make_unique<Secret>(std::move(*s));
    secrets_.push_back(value);
    return *this;
  }
  SlotValues view() const {
    SlotValues v;
    for (const auto& [name, secret] : values_) v[name] = secret.get();
    return v;
  }
  // Every value ever set, for "no secret in the error" checks.
  const std::vector<std::string>& secrets() const { return secrets_; }

 private:
  std::map<std::string, std::unique_ptr<Secret>> values_;
  std::vector<std::string> secrets_;
};

// The error's code is `code`, and none of `secrets` appears anywhere in it.
template <typename T>
::testing::AssertionResult failsWith(const Result<T>& r, ErrorCode code, const std::vector<std::string>& secrets = {}) {
  if (r.ok()) return ::testing::AssertionFailure() << "succeeded, expected " << code;
  const std::string text = r.error().describe() + " " + r.error().operation;
  for (const auto& s : secrets) {
    if (!s.empty() && text.find(s) != std::string::npos) {
      return ::testing::AssertionFailure() << "the error carries a secret: " << r.error().code;
    }
  }
  if (r.error().code != code) return ::testing::AssertionFailure() << r.error().describe() << ", expected " << code;
  return ::testing::AssertionSuccess();
}

// For withField: remove the field instead of setting it.
inline nlohmann::json absent() { return nlohmann::json(nlohmann::json::value_t::discarded); }

// `action` with the field at the JSON pointer `at` (e.g. "/search/filter") set
// to `value`, or removed when `value` is absent().
inline nlohmann::json withField(nlohmann::json action, const std::string& at, nlohmann::json value) {
  const nlohmann::json::json_pointer pointer(at);
  if (value.is_discarded()) {
    action[pointer.parent_pointer()].erase(pointer.back());
  } else {
    action[pointer] = std::move(value);
  }
  return action;
}

struct ActionCase {
  std::string what;
  nlohmann::json action;
};

// validate() refuses every case with `code`.
inline void expectRefused(const Connector& connector, const std::vector<ActionCase>& cases,
                          const ConnectorContext& context, ErrorCode code) {
  for (const auto& c : cases) EXPECT_TRUE(failsWith(connector.validate(c.action, context), code)) << c.what;
}

}  // namespace sealgate::connectors::testing
