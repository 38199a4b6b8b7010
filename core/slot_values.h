// What a slot value must be before /v1/execute makes it live in its request's
// egress scope (core/egress_guard.h; docs/EGRESS.md, "Usable values").
//
// The guard keeps a value out of outputs by finding it; a value it would find
// where it is not (sealgate's own words, a run of one byte) would shred or block
// outputs, and a value easy to guess turns redaction into a guessing oracle for
// whoever sees outputs. Such values are refused before they are made live, with
// SECRET_UNUSABLE (the message says why, never the value):
//  - shorter than kMinSlotValueBytes, or longer than kMaxSlotValueBytes, or the
//    request's values together over kMaxRequestSlotBytes (the request's automaton
//    grows with its values: ~6-9 MB per KiB);
//  - low entropy: fewer than kMinSlotValueEntropyBits by the value's own byte
//    frequencies (length x Shannon entropy of its byte histogram), or a run in
//    which every byte differs from the previous one by the same step
//    ("aaaaaaaa", "12345678", "hgfedcba");
//  - found by the guard in sealgate's protocol vocabulary (protocolVocabulary():
//    field names, error codes, outcome and event words, JSON literals, the
//    redaction marker), checked by the caller with the request's own guard.
//
// A value that is a JSON object or array (a slot without #field holds the whole
// document; a field may hold one) is re-serialised or reflected by peers one
// field at a time, so each of its string and number leaves is a value of its own
// (jsonLeafValues) and must be usable too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/secret.h"

namespace sealgate {

inline constexpr std::size_t kMinSlotValueBytes = 8;
inline constexpr std::size_t kMaxSlotValueBytes = 8192;
// All values of one request together, JSON leaves included: its automaton's size.
inline constexpr std::size_t kMaxRequestSlotBytes = 16384;
inline constexpr double kMinSlotValueEntropyBits = 20.0;
// A document with more leaves than this is refused (each leaf is a pattern set).
inline constexpr std::size_t kMaxSlotValueLeaves = 256;

// Why `value` cannot be made live, as a phrase that completes "the value ..."
// ("holds fewer than 8 bytes"), or nullopt when its length and entropy are fine.
// Never quotes the value.
std::optional<std::string> slotValueShapeProblem(std::span<const std::uint8_t> value);

// length x Shannon entropy (bits) of the byte histogram of `value`.
double byteHistogramEntropyBits(std::span<const std::uint8_t> value);

// When `value` is a JSON object or array: every string leaf (its UTF-8 bytes)
// and every number leaf (as nlohmann writes it), objects in key order, empty
// strings skipped; object keys, booleans and null are not values. nullopt when
// `value` is not a JSON object or array. The walk is iterative (any depth); the
// parsed copy's strings are wiped. Errors: SECRET_UNUSABLE when the document has
// more than kMaxSlotValueLeaves leaves, PROVIDER_UNAVAILABLE when protected
// memory cannot be had.
Result<std::optional<std::vector<Secret>>> jsonLeafValues(const Secret& value);

// The words sealgate itself writes (see the file comment), as one text in which
// each word stands as a JSON string ("word","word",...), as they do in output.
std::string_view protocolVocabulary();

}  // namespace sealgate
