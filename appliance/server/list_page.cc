#include "appliance/server/list_page.h"

#include <array>

namespace sealgate::appliance {

namespace {

constexpr std::array<std::string_view, 3> kParams = {"limit", "after", "q"};

Error invalid(const std::string& message) { return Error{ErrorCode::InvalidRequest, message}; }

}  // namespace

Result<ListPageQuery> listPageQuery(const Request& request) {
  SEALGATE_TRY(onlyKnownQueryParams(request.query, kParams));
  ListPageQuery q;
  SEALGATE_ASSIGN_OR_RETURN(auto limit, queryValue(request.query, "limit"));
  if (limit) {
    const std::string range = "limit is an integer from 1 to " + std::to_string(ListPageQuery::kMaxLimit);
    if (limit->empty() || limit->size() > 4 || (*limit)[0] == '0' ||
        !std::all_of(limit->begin(), limit->end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return invalid(range);
    }
    q.limit = std::stoul(*limit);
    if (q.limit > ListPageQuery::kMaxLimit) return invalid(range);
  }
  for (auto [name, field] : {std::pair{"after", &q.after}, {"q", &q.contains}}) {
    SEALGATE_ASSIGN_OR_RETURN(auto value, queryValue(request.query, name));
    if (!value) continue;
    if (value->size() > ListPageQuery::kMaxTextBytes) {
      return invalid(std::string(name) + " is longer than " + std::to_string(ListPageQuery::kMaxTextBytes) + " bytes");
    }
    *field = std::move(*value);
  }
  return q;
}

}  // namespace sealgate::appliance
