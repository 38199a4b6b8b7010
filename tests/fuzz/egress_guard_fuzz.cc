// libFuzzer target for the egress guard (core/egress_guard.h). The input is split
// into a secret (>= 4 bytes) and a text; the secret, encoded one way (by encoders
// independent of the guard's own where one exists), is inserted into the text.
// After scrub(): no stretch of the output between markers carries a live value,
// and unless a marker itself helped spell the value again (then check() blocks),
// carries() is false and a naive search for the inserted encoding finds nothing.
// Violations trap.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/egress_guard.h"
#include "core/egress_patterns.h"
#include "core/encoding.h"

namespace {

void check(bool cond) {
  if (!cond) __builtin_trap();
}

std::string percentRfc3986Upper(std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 0xf]};
    }
  }
  return out;
}

std::string jsonInner(std::string_view v, bool ensureAscii) {
  const std::string dumped =
      nlohmann::json(std::string(v)).dump(-1, ' ', ensureAscii, nlohmann::json::error_handler_t::replace);
  return dumped.substr(1, dumped.size() - 2);
}

// `inserted` goes into the text; `needle` is what must be gone afterwards.
void encode(int which, std::string_view secret, std::string_view filler, int alignment, std::string& inserted,
            std::string& needle) {
  using sealgate::asBytes;
  switch (which) {
    case 0:
      inserted = needle = secret;
      return;
    case 1:
    case 2: {
      // The secret inside a larger blob, `alignment` bytes into its 3-byte group.
      const std::string blob = std::string(filler.substr(0, alignment)) + std::string(secret) + std::string(filler);
      inserted = which == 1 ? sealgate::base64Std(asBytes(blob)) : sealgate::base64UrlNoPad(asBytes(blob));
      const std::size_t first = (8 * static_cast<std::size_t>(alignment) + 5) / 6;
      const std::size_t end = 8 * (static_cast<std::size_t>(alignment) + secret.size()) / 6;
      needle = inserted.substr(first, end - first);
      return;
    }
    case 3:
      inserted = needle = sealgate::hexLower(asBytes(secret));
      return;
    case 4:
      inserted = sealgate::hexLower(asBytes(secret));
      for (auto& c : inserted) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      needle = inserted;
      return;
    case 5:
      inserted = needle = jsonInner(secret, false);
      return;
    case 6:
      inserted = needle = jsonInner(secret, true);
      return;
    case 7:
      inserted = needle = percentRfc3986Upper(secret);
      return;
    default: {
      const auto every = sealgate::percentEncoded(asBytes(secret), sealgate::PercentStyle::EveryByte, false);
      inserted = needle = std::string(every.begin(), every.end());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static sealgate::EgressGuard guard;
  if (size < 4) return 0;
  const int which = data[0] % 9;
  const std::size_t secretSize = 4 + data[1] % 60;
  const int alignment = data[3] % 3;
  if (size < 4 + secretSize) return 0;
  const std::string_view secret(reinterpret_cast<const char*>(data) + 4, secretSize);
  const std::string_view rest(reinterpret_cast<const char*>(data) + 4 + secretSize, size - 4 - secretSize);

  std::string inserted, needle;
  const std::string filler = std::string(rest.substr(0, 3)) + "xyz";  // always 3 bytes or more
  encode(which, secret, std::string_view(filler).substr(0, 3), alignment, inserted, needle);
  check(!needle.empty());
  const std::size_t at = rest.empty() ? 0 : data[2] % (rest.size() + 1);
  std::string text = std::string(rest.substr(0, at)) + inserted + std::string(rest.substr(at));

  auto value = sealgate::Secret::copyFrom(secret);
  check(value.ok());
  auto live = guard.protect(*value);
  check(guard.active());
  check(guard.carries(text));
  check(!guard.check(text).ok());

  check(guard.scrub(text) >= 1);
  // What is left between markers is text the guard saw and let through.
  std::size_t from = 0;
  while (true) {
    const std::size_t marker = text.find(sealgate::kRedactionMarker, from);
    check(!guard.carries(
        std::string_view(text).substr(from, marker == std::string::npos ? std::string::npos : marker - from)));
    if (marker == std::string::npos) break;
    from = marker + sealgate::kRedactionMarker.size();
  }
  if (!guard.carries(text)) {
    check(text.find(needle) == std::string::npos);
  } else {
    check(guard.check(text).error().code == sealgate::egress_errc::kBlocked);
  }
  return 0;
}
