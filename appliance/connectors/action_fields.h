// Helpers the connectors share to read an action strictly (unknown keys,
// wrong types and slots in the wrong place are refused before any I/O) and to
// bound a whole action by one deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/interfaces/connector.h"
#include "core/result.h"
#include "core/secret.h"
#include "core/slot_template.h"

namespace sealgate::connectors {

// INVALID_ACTION unless `value` is an object whose keys are all in `allowed`.
// The key "connector", when present, must equal `connector` (it routed here).
Result<void> requireKnownKeys(const nlohmann::json& value, std::initializer_list<std::string_view> allowed,
                              std::string_view where, std::string_view connector = {});

// A string field where no slot may go: placeholders are checked before the type,
// so a slot in a number-valued field is still PLACEHOLDER_FORBIDDEN. Absent and
// not required: std::nullopt.
Result<std::optional<std::string>> plainString(const nlohmann::json& object, const char* key, std::string_view where,
                                               bool required);
// A string field that may carry slots: its parsed template (absent and not required: nullopt).
Result<std::optional<SlotTemplate>> slotString(const nlohmann::json& object, const char* key, std::string_view where,
                                               bool required);
// A login name (postgres and ssh `user`): literal text, or exactly one
// placeholder naming a slot of `context.usernameSlots` (a `#username` field).
// Any other placeholder is PLACEHOLDER_FORBIDDEN: the peer may say the login
// name back (SELECT reverse(current_user)), past the egress guard.
Result<SlotTemplate> loginName(const nlohmann::json& object, const char* key, std::string_view where,
                               const ConnectorContext& context);
// An integer field in [min, max], slots refused first; absent: `fallback`.
Result<std::int64_t> plainInteger(const nlohmann::json& object, const char* key, std::string_view where,
                                  std::int64_t min, std::int64_t max, std::int64_t fallback);
// A boolean field, slots refused first; absent: `fallback`.
Result<bool> plainBool(const nlohmann::json& object, const char* key, std::string_view where, bool fallback);

// A host name or IP literal, lowercased (egressHostAllowed compares lowercase):
// only [a-z0-9.-:], not starting with '-' (it could read as an option), so no
// "user@host", spaces or lists ever reach a client library.
Result<std::string> normalizeHost(std::string_view host, std::string_view where);

// The slot names of every template given (null pointers: fields left out).
std::set<std::string> slotNamesOf(std::initializer_list<const SlotTemplate*> templates);

// DESTINATION_FORBIDDEN unless the tenant's egress rules allow host:port.
Result<void> requireDestination(const ConnectorContext& context, const std::string& host, std::uint16_t port);

// The template rendered with a trailing NUL, in protected memory, for C APIs
// that take char* (the NUL is not counted in size()). A rendered value with an
// embedded NUL is SECRET_UNUSABLE.
class CString {
 public:
  static Result<CString> render(const SlotTemplate& t, const SlotValues& slots);
  const char* c_str() const { return reinterpret_cast<const char*>(bytes_.exposeSecretBytes().data()); }
  std::size_t size() const { return bytes_.size() - 1; }
  bool empty() const { return size() == 0; }

 private:
  Secret bytes_;
};

// One deadline for a whole action (connect, authenticate, run, read).
class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds budget) : end_(std::chrono::steady_clock::now() + budget) {}
  bool expired() const { return std::chrono::steady_clock::now() >= end_; }
  // What is left, at least 1 ms (0 means "no limit" or "do not wait" to the libraries).
  std::chrono::milliseconds remaining() const;

 private:
  std::chrono::steady_clock::time_point end_;
};

// INVALID_ACTION with `message`.
inline Error invalidAction(const std::string& message) { return makeError(connector_errc::kInvalidAction, message); }

// requireKnownKeys for a whole action of `connector`, and every key of `required` present.
inline Result<void> onlyFields(const nlohmann::json& action, std::string_view connector,
                               std::initializer_list<std::string_view> allowed,
                               std::initializer_list<const char*> required) {
  SEALGATE_TRY(requireKnownKeys(action, allowed, "the action", connector));
  for (const char* r : required) {
    if (!action.contains(r)) return invalidAction(std::string("the action needs '") + r + "'");
  }
  return {};
}

}  // namespace sealgate::connectors
