// libFuzzer target: the one JSON parser (core/json_parse.cc), against nlohmann's
// own DOM parser as an independent reference, and the JSON walkers over what it
// accepts. The first byte picks the options; the rest is the text.
//
// Properties (violations trap):
//   - a failure is BAD_JSON, JSON_TOO_DEEP or JSON_DUPLICATE_KEY, and never
//     quotes the input beyond a short key name;
//   - whatever parseJson accepts, nlohmann accepts too, with an equal value, at
//     most maxDepth deep, and it serialises and parses back to the same value;
//   - whatever nlohmann accepts but parseJson refuses is deeper than maxDepth
//     (JSON_TOO_DEEP) or repeats a key (nlohmann keeps the last; the value then
//     has fewer members than the text has keys — checked loosely: the code);
//   - what nlohmann refuses, parseJson refuses as BAD_JSON (or earlier, as too
//     deep or repeated);
//   - the walkers (slot placeholders, egress scrubbing, depth) terminate on it.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/egress_guard.h"
#include "core/json_parse.h"
#include "core/slot_template.h"

namespace {

void check(bool cond) {
  if (!cond) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using nlohmann::json;
  using namespace sealgate;
  if (size == 0) return 0;
  JsonParseOptions options;
  options.allowComments = (data[0] & 1) != 0;
  options.maxDepth = (data[0] & 2) != 0 ? kMaxJsonDepth : 1 + (data[0] >> 2) % 8;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);

  auto ours = parseJson(text, options);
  const json reference = json::parse(text, nullptr, /*allow_exceptions=*/false, options.allowComments);

  if (!ours) {
    const auto& code = ours.error().code;
    check(code == json_errc::kBadJson || code == json_errc::kTooDeep || code == json_errc::kDuplicateKey);
    if (code == json_errc::kBadJson) check(reference.is_discarded());
    if (code == json_errc::kTooDeep && !reference.is_discarded()) check(jsonDepth(reference) > options.maxDepth);
    // The message is bounded: a short key at most, never the input.
    check(ours.error().message.size() < 160);
    return 0;
  }
  check(!reference.is_discarded());
  check(*ours == reference);
  check(jsonDepth(*ours) <= options.maxDepth);
  // dump() repeats no key and the lexer only lets valid UTF-8 through.
  auto again = parseJson(ours->dump(), {.maxDepth = options.maxDepth});
  check(again.ok() && *again == *ours);

  // The walkers, on a document that is as deep and wide as parsing allows.
  (void)forbidSlotsInJson(*ours, "fuzz");
  static EgressGuard guard;
  static const auto live = [] {
    auto s = Secret::copyFrom(std::string_view("live-secret"));
    return guard.protect(*s);
  }();
  std::size_t count = 0;
  json scrubbed = guard.scrubJson(*ours, &count);
  check(scrubbed.is_structured() == ours->is_structured());
  return 0;
}
