// Encoders written here rather than reusing core/encoding.h: every intermediate
// must live in wiped-on-free memory (std::string would leave copies of the
// secret's encodings on the heap), and the variants needed (base64 at an offset,
// several percent- and JSON-escaping dialects) are not what those helpers do.
#include "core/egress_patterns.h"

#include <algorithm>
#include <string_view>

namespace sealgate {
namespace {

constexpr std::string_view kBase64Standard = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kBase64Url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view kHexLower = "0123456789abcdef";
constexpr std::string_view kHexUpper = "0123456789ABCDEF";

void append(WipedBytes& out, std::string_view text) { out.insert(out.end(), text.begin(), text.end()); }

void appendHexByte(WipedBytes& out, std::uint8_t b, bool upper) {
  const std::string_view digits = upper ? kHexUpper : kHexLower;
  out.push_back(static_cast<std::uint8_t>(digits[b >> 4]));
  out.push_back(static_cast<std::uint8_t>(digits[b & 0xf]));
}

// Every base64 character of `alignment` zero bytes + value, zero-filled to whole groups.
WipedBytes base64AllChars(std::span<const std::uint8_t> value, Base64Alphabet alphabet, int alignment) {
  WipedBytes stream(static_cast<std::size_t>(alignment), 0);
  stream.insert(stream.end(), value.begin(), value.end());
  while (stream.size() % 3 != 0) stream.push_back(0);
  const std::string_view chars = alphabet == Base64Alphabet::Standard ? kBase64Standard : kBase64Url;
  WipedBytes out;
  out.reserve(stream.size() / 3 * 4);
  for (std::size_t i = 0; i < stream.size(); i += 3) {
    const std::uint32_t group = (std::uint32_t{stream[i]} << 16) | (std::uint32_t{stream[i + 1]} << 8) | stream[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6)
      out.push_back(static_cast<std::uint8_t>(chars[(group >> shift) & 0x3f]));
  }
  return out;
}

// The first character that no filler bit reaches.
std::size_t firstDeterminedChar(int alignment) { return (8 * static_cast<std::size_t>(alignment) + 5) / 6; }

bool isAlnum(std::uint8_t b) { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9'); }

bool keptUnencoded(std::uint8_t b, PercentStyle style) {
  switch (style) {
    case PercentStyle::Rfc3986:
    case PercentStyle::Rfc3986PlusSpace:
      return isAlnum(b) || b == '-' || b == '.' || b == '_' || b == '~';
    case PercentStyle::UriComponent:
      return isAlnum(b) || std::string_view("-._~!'()*").find(static_cast<char>(b)) != std::string_view::npos;
    case PercentStyle::WhatwgForm:
      return isAlnum(b) || b == '*' || b == '-' || b == '.' || b == '_';
    case PercentStyle::EveryByte:
      return false;
  }
  return false;
}

// One step of UTF-8 decoding at the start of `s` (Unicode Table 3-7, the same
// rules as nlohmann's DFA): a well-formed sequence and its code point, or the
// ill-formed prefix (at least 1 byte) that nlohmann replaces with one U+FFFD.
struct Utf8Step {
  bool valid;
  std::size_t length;
  std::uint32_t codepoint;
};

Utf8Step decodeUtf8(std::span<const std::uint8_t> s) {
  const std::uint8_t lead = s[0];
  if (lead < 0x80) return {true, 1, lead};
  std::size_t need = 0;
  std::uint8_t low = 0x80, high = 0xbf;  // the range of the second byte
  std::uint32_t cp = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    need = 1, cp = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    need = 2, cp = lead & 0x0f;
    if (lead == 0xe0) low = 0xa0;
    if (lead == 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    need = 3, cp = lead & 0x07;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;
  } else {
    return {false, 1, 0};  // a byte that never starts a sequence
  }
  for (std::size_t j = 1; j <= need; ++j) {
    const bool fits = j < s.size() && s[j] >= (j == 1 ? low : 0x80) && s[j] <= (j == 1 ? high : 0xbf);
    // nlohmann replaces the ill-formed prefix and then reads the offending byte again.
    if (!fits) return {false, j, 0};
    cp = (cp << 6) | (s[j] & 0x3f);
  }
  return {true, need + 1, cp};
}

void appendJsonU(WipedBytes& out, std::uint32_t unit, bool upper) {
  append(out, "\\u");
  appendHexByte(out, static_cast<std::uint8_t>(unit >> 8), upper);
  appendHexByte(out, static_cast<std::uint8_t>(unit & 0xff), upper);
}

}  // namespace

WipedBytes base64Interior(std::span<const std::uint8_t> value, Base64Alphabet alphabet, int alignment) {
  const WipedBytes all = base64AllChars(value, alphabet, alignment);
  const std::size_t first = firstDeterminedChar(alignment);
  const std::size_t end = (8 * (static_cast<std::size_t>(alignment) + value.size())) / 6;
  if (end <= first) return {};
  return WipedBytes(all.begin() + static_cast<std::ptrdiff_t>(first), all.begin() + static_cast<std::ptrdiff_t>(end));
}

WipedBytes base64Terminal(std::span<const std::uint8_t> value, Base64Alphabet alphabet, int alignment, bool padded) {
  const WipedBytes all = base64AllChars(value, alphabet, alignment);
  const std::size_t bytes = static_cast<std::size_t>(alignment) + value.size();
  const std::size_t first = firstDeterminedChar(alignment);
  const std::size_t end = (8 * bytes + 5) / 6;
  if (end <= first) return {};
  WipedBytes out(all.begin() + static_cast<std::ptrdiff_t>(first), all.begin() + static_cast<std::ptrdiff_t>(end));
  if (padded) out.insert(out.end(), (3 - bytes % 3) % 3, '=');
  return out;
}

WipedBytes percentEncoded(std::span<const std::uint8_t> value, PercentStyle style, bool upperHex) {
  WipedBytes out;
  out.reserve(value.size() * 3);
  const bool plusForSpace = style == PercentStyle::Rfc3986PlusSpace || style == PercentStyle::WhatwgForm;
  for (std::uint8_t b : value) {
    if (keptUnencoded(b, style)) {
      out.push_back(b);
    } else if (b == ' ' && plusForSpace) {
      out.push_back('+');
    } else {
      out.push_back('%');
      appendHexByte(out, b, upperHex);
    }
  }
  return out;
}

WipedBytes jsonEscaped(std::span<const std::uint8_t> value, JsonEscapeStyle style) {
  WipedBytes out;
  out.reserve(value.size() * 2);
  std::size_t i = 0;
  while (i < value.size()) {
    const Utf8Step step = decodeUtf8(value.subspan(i));
    if (!step.valid) {
      if (style.ensureAscii) {
        appendJsonU(out, 0xfffd, style.upperHex);
      } else {
        append(out, "\xEF\xBF\xBD");
      }
      i += step.length;
      continue;
    }
    const std::uint32_t cp = step.codepoint;
    switch (cp) {
      case '\b':
        append(out, "\\b");
        break;
      case '\t':
        append(out, "\\t");
        break;
      case '\n':
        append(out, "\\n");
        break;
      case '\f':
        append(out, "\\f");
        break;
      case '\r':
        append(out, "\\r");
        break;
      case '"':
        append(out, "\\\"");
        break;
      case '\\':
        append(out, "\\\\");
        break;
      default:
        if (cp == '/' && style.escapeSlash) {
          append(out, "\\/");
        } else if (cp <= 0x1f || (style.ensureAscii && cp >= 0x7f) ||
                   (style.escapeHtml && (cp == '<' || cp == '>' || cp == '&'))) {
          if (cp <= 0xffff) {
            appendJsonU(out, cp, style.upperHex);
          } else {
            appendJsonU(out, 0xd800 + ((cp - 0x10000) >> 10), style.upperHex);
            appendJsonU(out, 0xdc00 + ((cp - 0x10000) & 0x3ff), style.upperHex);
          }
        } else {
          out.insert(out.end(), value.begin() + static_cast<std::ptrdiff_t>(i),
                     value.begin() + static_cast<std::ptrdiff_t>(i + step.length));
        }
    }
    i += step.length;
  }
  return out;
}

std::vector<WipedBytes> egressPatterns(std::span<const std::uint8_t> value) {
  std::vector<WipedBytes> derived;
  if (value.empty()) return derived;
  auto add = [&](WipedBytes p) {
    if (p.size() >= kMinDerivedPatternChars) derived.push_back(std::move(p));
  };
  for (auto alphabet : {Base64Alphabet::Standard, Base64Alphabet::Url}) {
    for (int alignment = 0; alignment < 3; ++alignment) {
      WipedBytes forms[] = {base64Interior(value, alphabet, alignment),
                            base64Terminal(value, alphabet, alignment, false),
                            base64Terminal(value, alphabet, alignment, true)};
      for (auto& form : forms) {
        if (alphabet == Base64Alphabet::Standard) {
          add(percentEncoded(form, PercentStyle::Rfc3986, true));
          add(percentEncoded(form, PercentStyle::Rfc3986, false));
        }
        add(std::move(form));
      }
    }
  }
  for (bool upper : {false, true}) {
    WipedBytes hex;
    hex.reserve(value.size() * 2);
    for (std::uint8_t b : value) appendHexByte(hex, b, upper);
    add(std::move(hex));
    for (auto style : {PercentStyle::Rfc3986, PercentStyle::Rfc3986PlusSpace, PercentStyle::UriComponent,
                       PercentStyle::WhatwgForm, PercentStyle::EveryByte}) {
      add(percentEncoded(value, style, upper));
    }
  }
  for (int bits = 0; bits < 16; ++bits) {
    add(jsonEscaped(value, JsonEscapeStyle{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0, (bits & 8) != 0}));
  }
  // JSON inside a JSON string (an API that echoes a JSON body inside its own JSON
  // answer, a log line quoting one): the value escaped twice, by nlohmann's dump()
  // each layer with or without ensure_ascii.
  for (bool innerAscii : {false, true}) {
    const WipedBytes once = jsonEscaped(value, JsonEscapeStyle{innerAscii, false, false, false});
    for (bool outerAscii : {false, true}) add(jsonEscaped(once, JsonEscapeStyle{outerAscii, false, false, false}));
  }
  derived.emplace_back(value.begin(), value.end());  // raw: kept whatever its length
  std::sort(derived.begin(), derived.end());
  derived.erase(std::unique(derived.begin(), derived.end()), derived.end());
  return derived;
}

}  // namespace sealgate
