// Server-side paging of the admin lists that are keyed by an id (GET
// /admin/v1/grants, GET /admin/v1/leases): `?q=` keeps the ids that contain it,
// `?after=` starts past that id, `?limit=` caps the page; the answer says how
// many matched and, when more follow, the id to pass as the next `after`.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "appliance/server/http_server.h"
#include "core/result.h"

namespace sealgate::appliance {

struct ListPageQuery {
  static constexpr std::size_t kDefaultLimit = 100;
  static constexpr std::size_t kMaxLimit = 1000;
  static constexpr std::size_t kMaxTextBytes = 256;  // q and after
  std::size_t limit = kDefaultLimit;
  std::string after;     // "": from the first id
  std::string contains;  // "": every id
};

// `limit`, `after` and `q` from the query; any other parameter, a repeated
// one, a limit outside 1..kMaxLimit or a text over kMaxTextBytes is
// INVALID_REQUEST.
Result<ListPageQuery> listPageQuery(const Request& request);

template <class T>
struct ListPage {
  std::vector<const T*> items;
  std::size_t total = 0;                 // the items that matched q, on every page
  std::optional<std::string> nextAfter;  // present when more follow
};

// The page of `all` that `query` asks for, ordered by `idOf(item)`.
template <class T, class IdOf>
ListPage<T> pageOf(const std::vector<T>& all, IdOf idOf, const ListPageQuery& query) {
  std::vector<const T*> matched;
  for (const T& item : all) {
    if (query.contains.empty() || std::string_view(idOf(item)).find(query.contains) != std::string_view::npos) {
      matched.push_back(&item);
    }
  }
  std::sort(matched.begin(), matched.end(), [&](const T* a, const T* b) { return idOf(*a) < idOf(*b); });
  ListPage<T> page;
  page.total = matched.size();
  auto from = matched.begin();
  if (!query.after.empty()) {
    from = std::upper_bound(matched.begin(), matched.end(), query.after,
                            [&](const std::string& after, const T* item) { return after < idOf(*item); });
  }
  const auto left = static_cast<std::size_t>(matched.end() - from);
  const auto to = from + static_cast<std::ptrdiff_t>(std::min(query.limit, left));
  page.items.assign(from, to);
  if (to != matched.end() && !page.items.empty()) page.nextAfter = std::string(idOf(*page.items.back()));
  return page;
}

}  // namespace sealgate::appliance
