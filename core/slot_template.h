// `{{slot:name}}` placeholders in connector actions (docs/CONNECTORS.md).
//
// A placeholder is exactly "{{slot:" + a name of 1-64 characters [A-Za-z0-9_-] +
// "}}". Anything else that starts "{{slot" is malformed (INVALID_ACTION), so a
// typo can never send a literal placeholder, or half of one, to a peer. Other
// "{{" are literal text.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/interfaces/connector.h"
#include "core/result.h"
#include "core/secret.h"

namespace sealgate {

// How a slot's bytes are written where its placeholder was: as they are, or
// escaped for the place they land in (only slot bytes are escaped; the literal
// text around them is the caller's and is kept as written).
enum class SlotEncoding {
  Raw,
  Percent,     // RFC 3986: every byte but unreserved ones as %XX (URL query values)
  JsonString,  // inside a JSON string: \" \\ and control characters escaped
};

class SlotTemplate {
 public:
  static Result<SlotTemplate> parse(std::string_view text);

  bool hasSlots() const { return !names_.empty(); }
  const std::set<std::string>& slotNames() const { return names_; }
  // True when the text is exactly one placeholder and nothing else.
  bool isSingleSlot() const { return parts_.size() == 1 && parts_[0].isSlot; }

  // The text with every placeholder replaced by its slot's bytes, in protected
  // memory. A slot missing from `slots` is INVALID_ACTION.
  Result<Secret> render(const SlotValues& slots, SlotEncoding encoding = SlotEncoding::Raw) const;

 private:
  struct Part {
    bool isSlot = false;
    std::string text;  // literal text, or the slot name
  };
  std::vector<Part> parts_;
  std::set<std::string> names_;
};

// A slot name: 1-64 characters of [A-Za-z0-9_-] (what may follow "{{slot:").
bool isSlotName(std::string_view name);

// Where slots may not go: INVALID_ACTION for a malformed placeholder,
// PLACEHOLDER_FORBIDDEN (naming `where`) for a well-formed one.
Result<void> forbidSlots(std::string_view text, std::string_view where);
// The same for every string (and key) inside a JSON value.
Result<void> forbidSlotsInJson(const nlohmann::json& value, std::string_view where);

// Peer bytes as JSON: a string when they are valid UTF-8, else
// {"base64": "..."} (nlohmann::json refuses to serialise invalid UTF-8).
nlohmann::json peerText(std::string_view bytes);

}  // namespace sealgate
