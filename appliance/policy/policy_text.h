// A policy as an editor holds it: checked as PUT /admin/v1/policy would take it,
// and each fault placed at a line and column of the text (POST
// /admin/v1/policy/validate; docs/POLICY.md, "History and validation").
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "appliance/policy/embedded_policy.h"
#include "core/error_code.h"

namespace sealgate::appliance {

// 1-based. `column` counts characters (Unicode code points of the UTF-8 text)
// from the start of the line.
struct TextPosition {
  std::size_t line = 1;
  std::size_t column = 1;
};

// The position of byte `offset` of `text` (an offset past the end: just after
// the last character).
TextPosition positionOf(std::string_view text, std::size_t offset);

// Where strict JSON parsing of `text` fails: the byte offset of the token the
// parser stopped at (the end of the text for an unexpected end); nullopt when
// the text is one well-formed JSON value.
std::optional<std::size_t> jsonSyntaxErrorOffset(std::string_view text);

// In well-formed JSON `text`: the byte offset of the first key an object repeats
// or of the first array/object nested deeper than `maxDepth`, whichever comes
// first (what parseJson refuses as JSON_DUPLICATE_KEY / JSON_TOO_DEEP).
std::optional<std::size_t> jsonStructureFaultOffset(std::string_view text, std::size_t maxDepth);

// In well-formed JSON `text`: the byte offset of the element a JSON pointer
// (RFC 6901) names: its key for an object member, the value itself for an
// array item or the document. An element the text does not hold (a missing
// key): its nearest ancestor that it does.
std::size_t jsonPointerOffset(std::string_view text, std::string_view pointer);

struct PolicyTextFault {
  TextPosition at;
  ErrorCode code = ErrorCode::PolicyInvalid;  // BAD_JSON, JSON_TOO_DEEP, JSON_DUPLICATE_KEY or POLICY_INVALID
  std::string message;
};

// NOLINTNEXTLINE(bugprone-exception-escape): holds an nlohmann::json (see Request)
struct PolicyTextCheck {
  std::optional<PolicyTextFault> fault;  // unset: a valid policy
  std::size_t rules = 0;
  nlohmann::json document;  // the parsed document when valid
};

// Strict JSON (a request body: no comments), then Policy::parse. The first
// fault only: both stop at it.
PolicyTextCheck checkPolicyText(std::string_view text);

}  // namespace sealgate::appliance
