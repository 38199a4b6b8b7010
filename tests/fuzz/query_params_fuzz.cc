// libFuzzer target: arbitrary bytes as an admin request's query string, read as
// the list pages (GET /admin/v1/grants, /admin/v1/leases) and the audit log's
// browser read it (appliance/server/query_params.cc, list_page.cc). Must never
// crash; a query that is taken has only known names, each once, and values in
// their bounds without control characters.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "appliance/server/list_page.h"
#include "appliance/server/query_params.h"

namespace {

bool hasControl(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sealgate::appliance;
  const std::string query(reinterpret_cast<const char*>(data), size);
  for (const char* name : {"limit", "after", "q", "reason", ""}) {
    auto value = queryValue(query, name);
    if (!value) {
      if (value.error().code != sealgate::ErrorCode::InvalidRequest) __builtin_trap();
    } else if (*value && hasControl(**value)) {
      __builtin_trap();
    }
  }
  constexpr std::array<std::string_view, 2> known = {"a", "b"};
  if (onlyKnownQueryParams(query, known) && query.find("c=") == 0) __builtin_trap();

  Request request;
  request.query = query;
  auto page = listPageQuery(request);
  if (!page) {
    if (page.error().code != sealgate::ErrorCode::InvalidRequest) __builtin_trap();
    return 0;
  }
  if (page->limit < 1 || page->limit > ListPageQuery::kMaxLimit) __builtin_trap();
  if (page->after.size() > ListPageQuery::kMaxTextBytes || page->contains.size() > ListPageQuery::kMaxTextBytes)
    __builtin_trap();
  if (hasControl(page->after) || hasControl(page->contains)) __builtin_trap();
  // The page it selects from a small list: in order, within the limit, past `after`, all matching.
  const std::vector<std::string> ids = {"", "a", "ab", "b", "ba", "z", "\xff"};
  auto selected = pageOf(
      ids, [](const std::string& s) -> const std::string& { return s; }, *page);
  if (selected.items.size() > page->limit || selected.total > ids.size()) __builtin_trap();
  for (std::size_t i = 0; i < selected.items.size(); ++i) {
    const std::string& id = *selected.items[i];
    if (i > 0 && !(*selected.items[i - 1] < id)) __builtin_trap();
    if (!page->after.empty() && !(page->after < id)) __builtin_trap();
    if (id.find(page->contains) == std::string::npos) __builtin_trap();
  }
  if (selected.nextAfter && (selected.items.empty() || *selected.nextAfter != *selected.items.back())) __builtin_trap();
  return 0;
}
