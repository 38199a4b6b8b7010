#include "appliance/connectors/action_fields.h"

#include <algorithm>
#include <cstring>

namespace sealgate::connectors {
namespace {

std::string field(std::string_view where, const char* key) { return std::string(where) + "." + key; }

Error wrongType(std::string_view where, const char* key, const char* expected) {
  return makeError(connector_errc::kInvalidAction, field(where, key) + " must be " + expected);
}

// A field that takes a scalar: a placeholder in a string is PLACEHOLDER_FORBIDDEN
// (before the type check, so `"port": "{{slot:x}}"` says what is wrong); an array
// or object is simply the wrong type and is never walked.
Result<void> forbidSlotsInScalar(const nlohmann::json& value, std::string_view where) {
  if (!value.is_string()) return {};
  return forbidSlots(value.get_ref<const std::string&>(), where);
}

}  // namespace

Result<void> requireKnownKeys(const nlohmann::json& value, std::initializer_list<std::string_view> allowed,
                              std::string_view where, std::string_view connector) {
  if (!value.is_object()) return makeError(connector_errc::kInvalidAction, std::string(where) + " must be an object");
  for (const auto& [key, item] : value.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      // The key is caller text: do not echo it (it could be a pasted secret).
      return makeError(connector_errc::kInvalidAction, std::string(where) + " has an unknown key");
    }
    if (key != "connector") continue;
    if (auto r = forbidSlotsInScalar(item, std::string(where) + ".connector"); !r) return r;
    if (!item.is_string() || item.get_ref<const std::string&>() != connector) {
      return makeError(connector_errc::kInvalidAction, std::string(where) + ".connector names another connector");
    }
  }
  return {};
}

Result<std::optional<std::string>> plainString(const nlohmann::json& object, const char* key, std::string_view where,
                                               bool required) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (required) return makeError(connector_errc::kInvalidAction, field(where, key) + " is required");
    return std::optional<std::string>{};
  }
  SEALGATE_TRY(forbidSlotsInScalar(*it, field(where, key)));
  if (!it->is_string()) return wrongType(where, key, "a string");
  return std::optional<std::string>{it->get<std::string>()};
}

Result<std::optional<SlotTemplate>> slotString(const nlohmann::json& object, const char* key, std::string_view where,
                                               bool required) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (required) return makeError(connector_errc::kInvalidAction, field(where, key) + " is required");
    return std::optional<SlotTemplate>{};
  }
  if (!it->is_string()) return wrongType(where, key, "a string");
  SEALGATE_ASSIGN_OR_RETURN(auto t, SlotTemplate::parse(it->get_ref<const std::string&>()));
  return std::optional<SlotTemplate>{std::move(t)};
}

Result<SlotTemplate> loginName(const nlohmann::json& object, const char* key, std::string_view where,
                               const ConnectorContext& context) {
  // Not SEALGATE_ASSIGN_OR_RETURN: GCC 12 sees a maybe-uninitialized optional in
  // the moved-out copy (a false positive under -Werror).
  auto t = slotString(object, key, where, true);
  if (!t) return std::move(t).takeError();
  SlotTemplate name = std::move(**t);
  if (!name.hasSlots()) return name;
  if (!name.isSingleSlot() || !context.usernameSlots.count(*name.slotNames().begin())) {
    return makeError(connector_errc::kPlaceholderForbidden,
                     field(where, key) +
                         " takes a slot only when it is the whole value and the slot's URI names a "
                         "#username field: the peer can say a login name back");
  }
  return name;
}

Result<std::int64_t> plainInteger(const nlohmann::json& object, const char* key, std::string_view where,
                                  std::int64_t min, std::int64_t max, std::int64_t fallback) {
  auto it = object.find(key);
  if (it == object.end()) return fallback;
  SEALGATE_TRY(forbidSlotsInScalar(*it, field(where, key)));
  if (!it->is_number_integer()) return wrongType(where, key, "an integer");
  // Unsigned JSON numbers past int64 are out of range too.
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
    return wrongType(where, key, "in range");
  }
  const auto v = it->get<std::int64_t>();
  if (v < min || v > max) return wrongType(where, key, "in range");
  return v;
}

Result<bool> plainBool(const nlohmann::json& object, const char* key, std::string_view where, bool fallback) {
  auto it = object.find(key);
  if (it == object.end()) return fallback;
  SEALGATE_TRY(forbidSlotsInScalar(*it, field(where, key)));
  if (!it->is_boolean()) return wrongType(where, key, "a boolean");
  return it->get<bool>();
}

Result<std::string> normalizeHost(std::string_view host, std::string_view where) {
  std::string out;
  out.reserve(host.size());
  for (char c : host) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':';
    if (!ok) return makeError(connector_errc::kInvalidAction, std::string(where) + " is not a host name or IP address");
    out.push_back(c);
  }
  if (out.empty() || out.size() > 253 || out.front() == '-') {
    return makeError(connector_errc::kInvalidAction, std::string(where) + " is not a host name or IP address");
  }
  return out;
}

std::set<std::string> slotNamesOf(std::initializer_list<const SlotTemplate*> templates) {
  std::set<std::string> names;
  for (const auto* t : templates) {
    if (t != nullptr) names.insert(t->slotNames().begin(), t->slotNames().end());
  }
  return names;
}

Result<void> requireDestination(const ConnectorContext& context, const std::string& host, std::uint16_t port) {
  if (!egressHostAllowed(context.rules, host, port)) {
    return makeError(connector_errc::kDestinationForbidden, "the destination is not on the tenant's egress allow-list");
  }
  return {};
}

Result<CString> CString::render(const SlotTemplate& t, const SlotValues& slots) {
  SEALGATE_ASSIGN_OR_RETURN(auto text, t.render(slots));
  // A C API would silently stop at an embedded NUL and use a shorter value.
  const auto rendered = text.exposeSecretBytes();
  if (std::find(rendered.begin(), rendered.end(), std::uint8_t{0}) != rendered.end()) {
    return makeError(connector_errc::kSecretUnusable, "a slot value contains a NUL byte");
  }
  auto bytes = Secret::allocate(text.size() + 1);  // zero-filled: the last byte is the NUL
  if (!bytes) return std::move(bytes).takeError();
  const auto src = text.exposeSecretBytes();
  if (!src.empty()) std::memcpy(bytes->exposeSecretBytesMutable().data(), src.data(), src.size());
  CString out;
  out.bytes_ = std::move(*bytes);
  return out;
}

std::chrono::milliseconds Deadline::remaining() const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end_ - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

}  // namespace sealgate::connectors
