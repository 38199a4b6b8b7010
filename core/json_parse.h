// The one way sealgate turns text into JSON. Every request body, KV body, JWS
// header and payload, policy, configuration, PDP or Vault response and stored
// record goes through parseJson, which refuses, while parsing (the deep document
// is never built):
//   - nesting deeper than kMaxJsonDepth arrays/objects (JSON_TOO_DEEP): every
//     document the daemon holds is then shallow enough for any walker;
//   - an object that repeats a key (JSON_DUPLICATE_KEY): two readers of the same
//     text can never see two different values;
//   - anything that is not exactly one well-formed JSON value (BAD_JSON).
// docs/API.md documents the limit and the codes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>

#include "core/result.h"

namespace sealgate {

namespace json_errc {
inline constexpr ErrorCode kBadJson = ErrorCode::BadJson;
inline constexpr ErrorCode kTooDeep = ErrorCode::JsonTooDeep;
inline constexpr ErrorCode kDuplicateKey = ErrorCode::JsonDuplicateKey;
}  // namespace json_errc

// The most arrays/objects nested in one another in any JSON from outside: `{}` is
// depth 1, `{"a":[{}]}` depth 3.
inline constexpr std::size_t kMaxJsonDepth = 32;

// Text the daemon serialized itself and reads back (audit events in flight,
// obligations, a request's context): a document from outside plus the few
// levels the daemon wrapped around it. Still a bound, never "unlimited".
inline constexpr std::size_t kMaxInternalJsonDepth = 2 * kMaxJsonDepth;

struct JsonParseOptions {
  std::size_t maxDepth = kMaxJsonDepth;
  bool allowComments = false;  // operator files only (configuration, policy file)
};

// On failure nothing is returned and every string already parsed is wiped.
Result<nlohmann::json> parseJson(std::string_view text, const JsonParseOptions& options = {});
Result<nlohmann::json> parseJson(std::span<const std::uint8_t> bytes, const JsonParseOptions& options = {});

// parseJson for callers that already treat a non-object as malformed: on any
// failure, a discarded value (is_discarded(), not an object).
nlohmann::json parseJsonOrDiscarded(std::string_view text, const JsonParseOptions& options = {});

// Text the daemon serialized itself and reads back (a request's context, policy
// obligations, an audit event in flight, a stored record): parseJson with
// kMaxInternalJsonDepth; on any failure, a discarded value (is_discarded(), not an
// object), which every caller already treats as malformed.
nlohmann::json parseInternalJson(std::string_view text);
nlohmann::json parseInternalJson(std::span<const std::uint8_t> bytes);

// The deepest nesting of arrays/objects in `value` (0 for a scalar), without
// recursion: for checks on documents built in memory.
std::size_t jsonDepth(const nlohmann::json& value);

}  // namespace sealgate
