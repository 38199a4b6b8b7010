#include "core/slot_template.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/encoding.h"

namespace sealgate {

namespace {

constexpr std::string_view kOpen = "{{slot";
constexpr std::string_view kPrefix = "{{slot:";
constexpr std::string_view kClose = "}}";
constexpr std::size_t kMaxName = 64;

bool nameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// Calls `onLiteral(text)` and `onSlot(name)` in order; fails on a malformed placeholder.
template <typename Literal, typename Slot>
Result<void> scan(std::string_view text, Literal onLiteral, Slot onSlot) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t at = text.find(kOpen, pos);
    if (at == std::string_view::npos) {
      onLiteral(text.substr(pos));
      break;
    }
    if (at > pos) onLiteral(text.substr(pos, at - pos));
    if (text.compare(at, kPrefix.size(), kPrefix) != 0) {
      return makeError(connector_errc::kInvalidAction, "a placeholder must be written {{slot:name}}");
    }
    std::size_t end = at + kPrefix.size();
    while (end < text.size() && nameChar(text[end]) && end - (at + kPrefix.size()) <= kMaxName) ++end;  // stops at 65
    const std::size_t nameLength = end - (at + kPrefix.size());
    if (nameLength == 0 || nameLength > kMaxName || text.compare(end, kClose.size(), kClose) != 0) {
      return makeError(connector_errc::kInvalidAction,
                       "a placeholder must be written {{slot:name}}, the name 1-64 of [A-Za-z0-9_-]");
    }
    onSlot(text.substr(at + kPrefix.size(), nameLength));
    pos = end + kClose.size();
  }
  return {};
}

}  // namespace

Result<SlotTemplate> SlotTemplate::parse(std::string_view text) {
  SlotTemplate t;
  SEALGATE_TRY(scan(
      text,
      [&](std::string_view literal) {
        if (!t.parts_.empty() && !t.parts_.back().isSlot) {
          t.parts_.back().text.append(literal);
        } else {
          t.parts_.push_back(Part{false, std::string(literal)});
        }
      },
      [&](std::string_view name) {
        t.parts_.push_back(Part{true, std::string(name)});
        t.names_.insert(std::string(name));
      }));
  return t;
}

namespace {

bool unreserved(std::uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// Writes `bytes` escaped for `encoding` into `out` (when non-null); returns the length.
std::size_t encodeSlot(std::span<const std::uint8_t> bytes, SlotEncoding encoding, std::uint8_t* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::size_t n = 0;
  auto put = [&](char c) {
    if (out) out[n] = static_cast<std::uint8_t>(c);
    ++n;
  };
  for (std::uint8_t c : bytes) {
    if (encoding == SlotEncoding::Percent && !unreserved(c)) {
      put('%'), put(kHex[c >> 4]), put(kHex[c & 15]);
    } else if (encoding == SlotEncoding::JsonString && (c == '"' || c == '\\')) {
      put('\\'), put(static_cast<char>(c));
    } else if (encoding == SlotEncoding::JsonString && c < 0x20) {
      put('\\'), put('u'), put('0'), put('0'), put(kHex[c >> 4]), put(kHex[c & 15]);
    } else {
      put(static_cast<char>(c));
    }
  }
  return n;
}

}  // namespace

Result<Secret> SlotTemplate::render(const SlotValues& slots, SlotEncoding encoding) const {
  std::size_t size = 0;
  for (const auto& p : parts_) {
    if (!p.isSlot) {
      size += p.text.size();
      continue;
    }
    auto it = slots.find(p.text);
    if (it == slots.end() || it->second == nullptr) {
      return makeError(connector_errc::kInvalidAction, "a placeholder names a slot the request does not declare");
    }
    size += encodeSlot(it->second->exposeSecretBytes(), encoding, nullptr);
  }
  auto out = Secret::allocate(size);
  if (!out) return std::move(out).takeError();
  auto dst = out->exposeSecretBytesMutable();
  std::size_t at = 0;
  for (const auto& p : parts_) {
    if (p.isSlot) {
      at += encodeSlot(slots.at(p.text)->exposeSecretBytes(), encoding, dst.data() + at);
    } else {
      if (!p.text.empty()) std::memcpy(dst.data() + at, p.text.data(), p.text.size());
      at += p.text.size();
    }
  }
  return out;
}

bool isSlotName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxName && std::all_of(name.begin(), name.end(), nameChar);
}

Result<void> forbidSlots(std::string_view text, std::string_view where) {
  bool found = false;
  auto scanned = scan(
      text, [](std::string_view) {}, [&](std::string_view) { found = true; });
  if (!scanned) return scanned;
  if (found) {
    return makeError(connector_errc::kPlaceholderForbidden,
                     "slot placeholders are not allowed in " + std::string(where));
  }
  return {};
}

Result<void> forbidSlotsInJson(const nlohmann::json& value, std::string_view where) {
  // Iterative: the document may come from a caller (parseJson caps its depth,
  // but a walker must not depend on that to keep its stack).
  std::vector<const nlohmann::json*> todo{&value};
  while (!todo.empty()) {
    const nlohmann::json* v = todo.back();
    todo.pop_back();
    if (v->is_string()) {
      if (auto r = forbidSlots(v->get_ref<const std::string&>(), where); !r) return r;
    } else if (v->is_object()) {
      for (const auto& [key, item] : v->items()) {
        if (auto r = forbidSlots(key, where); !r) return r;
        todo.push_back(&item);
      }
    } else if (v->is_array()) {
      for (const auto& item : *v) todo.push_back(&item);
    }
  }
  return {};
}

namespace {

bool validUtf8(std::string_view s) {
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    const unsigned char c = p[i];
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size() || (p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace

nlohmann::json peerText(std::string_view bytes) {
  if (validUtf8(bytes)) return std::string(bytes);
  return nlohmann::json{{"base64", base64Std(asBytes(bytes))}};
}

bool egressHostAllowed(const EgressRules& rules, const std::string& host, std::uint16_t port) {
  // Only lowercase names and IP literals are comparable: anything else (a NUL that
  // a resolver would stop at, a '/', '@' or space) is never allowed.
  if (host.empty() || host.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-:") != std::string::npos) {
    return false;
  }
  if (!rules.ports.empty() && std::find(rules.ports.begin(), rules.ports.end(), port) == rules.ports.end()) {
    return false;
  }
  for (const auto& allowed : rules.hosts) {
    if (allowed == host) return true;
    // "*.example.com" matches any name that ends ".example.com" (not example.com itself).
    if (allowed.size() > 2 && allowed.compare(0, 2, "*.") == 0) {
      const std::string suffix = allowed.substr(1);
      if (host.size() > suffix.size() && host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0) {
        return true;
      }
    }
  }
  return false;
}

const std::vector<std::string>* pinnedHostKeys(const EgressRules& rules, const std::string& host, std::uint16_t port) {
  const std::vector<std::string>* anyPort = nullptr;
  for (const auto& pin : rules.hostKeys) {
    if (pin.host != host) continue;
    if (pin.port == port) return &pin.sha256;
    if (pin.port == 0) anyPort = &pin.sha256;
  }
  return anyPort;
}

}  // namespace sealgate
