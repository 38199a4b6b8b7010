// libFuzzer target for what /v1/execute checks before a slot value goes live
// (core/slot_values.h): the JSON-document leaf walk and the shape rules. The
// input is a slot value as a provider would return it. Invariants (violations
// trap): the walk ends at any depth, a document's leaves are non-empty and at most
// kMaxSlotValueLeaves, a value nlohmann reads as an object or array is a document
// or refused,
// and a value with no shape problem is within the size caps and has the entropy.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/interfaces/connector.h"
#include "core/slot_values.h"

namespace {
void check(bool cond) {
  if (!cond) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  auto value = sealgate::Secret::copyFrom(bytes);
  if (!value) return 0;

  const auto problem = sealgate::slotValueShapeProblem(bytes);
  if (!problem) {
    check(size >= sealgate::kMinSlotValueBytes && size <= sealgate::kMaxSlotValueBytes);
    check(sealgate::byteHistogramEntropyBits(bytes) >= sealgate::kMinSlotValueEntropyBits);
  }

  auto leaves = sealgate::jsonLeafValues(*value);
  const auto parsed = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (!leaves) {
    // Refused: a document that cannot be walked leaf by leaf (too many leaves,
    // nested deeper than the one parser's cap, a repeated key), so it began as one.
    check(leaves.error().code == sealgate::connector_errc::kSecretUnusable);
    std::size_t first = 0;
    while (first < size && (data[first] == ' ' || data[first] == '\t' || data[first] == '\n' || data[first] == '\r')) {
      ++first;
    }
    check(first < size && (data[first] == '{' || data[first] == '['));
    return 0;
  }
  if (*leaves) {
    check(parsed.is_structured());
    check((*leaves)->size() <= sealgate::kMaxSlotValueLeaves);
    for (const auto& leaf : **leaves) check(leaf.size() > 0);
  } else {
    check(!parsed.is_structured());
  }
  return 0;
}
