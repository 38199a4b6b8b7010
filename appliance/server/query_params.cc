#include "appliance/server/query_params.h"

#include <algorithm>
#include <vector>

namespace sealgate::appliance {

Result<std::optional<std::string>> queryValue(const std::string& query, std::string_view name) {
  std::string_view rest = query;
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    const std::string_view encoded = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    std::string out;
    for (std::size_t i = 0; i < encoded.size(); ++i) {
      char c = encoded[i];
      if (c == '+') {
        c = ' ';
      } else if (c == '%') {
        const auto hex = [](char h) {
          if (h >= '0' && h <= '9') return h - '0';
          if (h >= 'a' && h <= 'f') return h - 'a' + 10;
          if (h >= 'A' && h <= 'F') return h - 'A' + 10;
          return -1;
        };
        const bool whole = i + 2 < encoded.size();
        const int hi = whole ? hex(encoded[i + 1]) : -1;
        const int lo = whole ? hex(encoded[i + 2]) : -1;
        if (hi < 0 || lo < 0)
          return Error{ErrorCode::InvalidRequest, "the query's " + std::string(name) + " is badly encoded"};
        c = static_cast<char>(hi * 16 + lo);
        i += 2;
      }
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return Error{ErrorCode::InvalidRequest, "the query's " + std::string(name) + " holds a control character"};
      }
      out += c;
    }
    return std::optional<std::string>(std::move(out));
  }
  return std::optional<std::string>();
}

Result<void> onlyKnownQueryParams(std::string_view query, std::span<const std::string_view> known) {
  std::vector<bool> seen(known.size());
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::string_view name = pair.substr(0, pair.find('='));
    const auto it = std::find(known.begin(), known.end(), name);
    if (it == known.end()) {
      // Echoed in the error: printable ASCII only, so the message stays valid JSON text.
      std::string shown(name.substr(0, 64));
      std::replace_if(
          shown.begin(), shown.end(), [](char c) { return c < 0x20 || c > 0x7e; }, '?');
      std::string message = "unknown query parameter '" + shown + "' (known: ";
      for (std::size_t i = 0; i < known.size(); ++i) {
        if (i > 0) message += ", ";
        message.append(known[i]);
      }
      message += ")";
      return Error{ErrorCode::InvalidRequest, std::move(message)};
    }
    const auto at = static_cast<std::size_t>(it - known.begin());
    if (seen[at]) return Error{ErrorCode::InvalidRequest, std::string(name) + " is given more than once"};
    seen[at] = true;
  }
  return Ok{};
}

}  // namespace sealgate::appliance
