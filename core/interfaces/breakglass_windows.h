// BreakGlassWindows: the open break-glass windows, as the grant endpoints see
// them (docs/BREAKGLASS.md). appliance/breakglass's BreakGlass is the
// implementation; grant unit tests use an in-memory one.
//
// Contract:
//  - windowFor() names the open window whose tenant, URI prefixes and actions
//    cover one authorize item and whose mode covers what the PDP said:
//    `pdpDenied` false means the PDP failed, timed out or gave no decision
//    (both modes pass it), true means the PDP denied the item (only an
//    `override` window passes it). None: the item is decided as usual.
//  - windowOpen() is false for an unknown id, and for a window that ended
//    (its end passed, or an admin closed it) or never opened: a grant carrying
//    that id as its `bg` claim is refused from then on.
//  - Both are cheap, in-memory and never fail (no I/O on the request path).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace sealgate {

struct OpenBreakGlassWindow {
  std::string id;           // the break-glass request's id
  std::int64_t endsAt = 0;  // unix seconds: grants it lets through expire by then
};

class BreakGlassWindows {
 public:
  virtual ~BreakGlassWindows() = default;
  virtual std::optional<OpenBreakGlassWindow> windowFor(const std::string& tenant, const std::string& canonicalUri,
                                                        const std::string& action, bool pdpDenied,
                                                        std::int64_t now) const = 0;
  virtual bool windowOpen(const std::string& windowId, std::int64_t now) const = 0;
};

}  // namespace sealgate
