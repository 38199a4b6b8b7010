// Byte encodings used in identifiers and wire formats.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sealgate {

using Bytes = std::vector<std::uint8_t>;

std::span<const std::uint8_t> asBytes(std::string_view s);

// RFC 4648 base32, lowercase alphabet, no padding (resource_ref).
std::string base32LowerNoPad(std::span<const std::uint8_t> data);
// RFC 4648 base64url without padding (JWS, thumbprints).
std::string base64UrlNoPad(std::span<const std::uint8_t> data);
std::optional<Bytes> decodeBase64UrlNoPad(std::string_view text);
// RFC 4648 standard base64 with padding (signed notes).
std::string base64Std(std::span<const std::uint8_t> data);
std::string hexLower(std::span<const std::uint8_t> data);
std::optional<Bytes> decodeHex(std::string_view text);

// Constant-time equality for MACs, thumbprints and tokens (length is not secret).
bool constantTimeEquals(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

}  // namespace sealgate
