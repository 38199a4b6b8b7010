// Validation of request bodies, kept free of the HTTP layer so that it can be
// fuzzed on its own (tests/fuzz/request_body_fuzz.cc). Errors are UNKNOWN_FIELD
// or INVALID_REQUEST (HTTP 400) and never echo values.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/secret_uri.h"

namespace sealgate::appliance {

// Every key of `body` must be in `allowed`, every key of `required` present.
Result<void> checkBodyFields(const nlohmann::json& body, std::initializer_list<const char*> allowed,
                             std::initializer_list<const char*> required);

// One item of a /v1/authorize batch.
struct AuthorizeItem {
  std::size_t index = 0;
  std::optional<SecretUri> uri;  // set when the URI parsed and passed the tenant guard
  std::string action;
  std::string contextJson = "{}";
  std::string denyReason;  // the URI_* code that denies this item before the PDP
  std::string resourceRef;
};

// A malformed body or item fails the whole request; a bad or foreign URI only
// denies its item (API.md).
Result<std::vector<AuthorizeItem>> parseAuthorizeBody(const nlohmann::json& body, const std::string& callerTenant,
                                                      std::size_t maxBatch);

}  // namespace sealgate::appliance
