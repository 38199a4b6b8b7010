// The encodings in which a live secret value is looked for on egress
// (core/egress_guard.h, docs/EGRESS.md).
//
// Covered, for a value V of n bytes:
//  - raw: V itself, at any length (a 1-byte value is still a pattern);
//  - base64, standard (+/) and URL-safe (-_) alphabets: V at each of the 3
//    alignments inside a longer encoded stream (0, 1 or 2 bytes before it in its
//    3-byte group). For each alignment the pattern is the characters fully
//    determined by V's bits, so V is found anywhere inside a larger blob; plus the
//    "V ends the stream" forms with the final partial character, with and without
//    '=' padding. The standard forms are also covered percent-encoded (base64 in a
//    URL query: %2B, %2F, %3D), upper and lower hex;
//  - hex, lowercase and uppercase;
//  - percent-encoding: RFC 3986 (unreserved kept; space as %20 or '+'),
//    encodeURIComponent (also keeps !'()*), WHATWG form encoding (keeps *-._,
//    space as '+'), and every byte as %XX; each with upper- and lowercase hex;
//  - JSON string escaping: as nlohmann::json's dump() writes it, with and without
//    ensure_ascii (\uXXXX, surrogate pairs for non-BMP), invalid UTF-8 replaced by
//    U+FFFD as error_handler_t::replace does; and the variants of other common
//    encoders: uppercase \u hex (Jackson, .NET), "\/" (PHP), and <, >, & as
//    \u003c, \u003e, \u0026 (Go).
//
// Not covered (see docs/EGRESS.md): a value split across fields, lines, chunks or
// writes; two layers of encoding other than base64-in-URL (e.g. hex of base64);
// base64 with line breaks (MIME, PEM); mixed-case hex; base32, UTF-16, HTML
// entities, quoted-printable, compression or encryption; a value transformed
// (case-folded, truncated below the whole value, hashed).
//
// Derived encodings shorter than kMinDerivedPatternChars are dropped: they would
// redact arbitrary text. The raw value is always kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/zeroizing_allocator.h"

namespace sealgate {

inline constexpr std::size_t kMinDerivedPatternChars = 4;

// Every distinct pattern for `value`, in wiped-on-free memory. Empty for an
// empty value.
std::vector<WipedBytes> egressPatterns(std::span<const std::uint8_t> value);

// The single encodings, exposed for tests, the fuzzer and the benchmark.
enum class Base64Alphabet { Standard, Url };
// The characters of base64(filler + value + more) fully determined by `value`,
// where `alignment` (0..2) filler bytes precede it in its 3-byte group.
WipedBytes base64Interior(std::span<const std::uint8_t> value, Base64Alphabet alphabet, int alignment);
// The tail of base64(filler + value): the determined characters, then the
// final partial character (zero bits) and, when `padded`, '=' padding.
WipedBytes base64Terminal(std::span<const std::uint8_t> value, Base64Alphabet alphabet, int alignment, bool padded);

enum class PercentStyle { Rfc3986, Rfc3986PlusSpace, UriComponent, WhatwgForm, EveryByte };
WipedBytes percentEncoded(std::span<const std::uint8_t> value, PercentStyle style, bool upperHex);

struct JsonEscapeStyle {
  bool ensureAscii = false;  // non-ASCII (and DEL) as \uXXXX
  bool upperHex = false;     // \u00E9 instead of \u00e9
  bool escapeSlash = false;  // "\/"
  bool escapeHtml = false;   // <, >, & as \u003c, \u003e, \u0026
};
// The bytes between the quotes of a JSON string holding `value`.
WipedBytes jsonEscaped(std::span<const std::uint8_t> value, JsonEscapeStyle style);

}  // namespace sealgate
