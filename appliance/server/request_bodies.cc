#include "appliance/server/request_bodies.h"

namespace sealgate::appliance {

using nlohmann::json;

Result<void> checkBodyFields(const json& body, std::initializer_list<const char*> allowed,
                             std::initializer_list<const char*> required) {
  if (!body.is_object()) return makeError(ErrorCode::InvalidRequest, "the body must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (!known) return makeError(ErrorCode::UnknownField, "unknown field '" + key.substr(0, 64) + "'");
  }
  for (const char* r : required) {
    if (!body.contains(r)) return makeError(ErrorCode::InvalidRequest, std::string("missing field '") + r + "'");
  }
  return Ok{};
}

Result<std::vector<AuthorizeItem>> parseAuthorizeBody(const json& body, const std::string& callerTenant,
                                                      std::size_t maxBatch) {
  SEALGATE_TRY(checkBodyFields(body, {"requests"}, {"requests"}));
  const json& list = body["requests"];
  if (!list.is_array() || list.empty() || list.size() > maxBatch) {
    return makeError(ErrorCode::InvalidRequest,
                     "'requests' must be an array of 1.." + std::to_string(maxBatch) + " items");
  }
  std::vector<AuthorizeItem> items;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& r = list[i];
    const std::string where = "requests[" + std::to_string(i) + "]";
    if (!r.is_object()) return makeError(ErrorCode::InvalidRequest, where + " must be an object");
    if (auto fields = checkBodyFields(r, {"uri", "action", "context"}, {"uri", "action"}); !fields) {
      Error e = std::move(fields).takeError();
      e.message = where + ": " + e.message;
      return e;
    }
    if (!r["uri"].is_string() || !r["action"].is_string() || r["action"].get<std::string>().empty() ||
        r["action"].get<std::string>().size() > 64) {
      return makeError(ErrorCode::InvalidRequest, where + ": 'uri' and 'action' must be strings");
    }
    if (r.contains("context") && !r["context"].is_object()) {
      return makeError(ErrorCode::InvalidRequest, where + ": 'context' must be an object");
    }
    AuthorizeItem item;
    item.index = i;
    item.action = r["action"];
    if (r.contains("context")) item.contextJson = r["context"].dump(-1, ' ', false, json::error_handler_t::replace);
    auto uri = SecretUri::parse(r["uri"].get<std::string>());
    if (!uri) {
      item.denyReason = errorCodeName(uri.error().code);
    } else if (auto guard = uri->checkTenant(callerTenant); !guard) {
      item.denyReason = errorCodeName(guard.error().code);
    } else {
      item.uri = std::move(*uri);
    }
    items.push_back(std::move(item));
  }
  return items;
}

}  // namespace sealgate::appliance
