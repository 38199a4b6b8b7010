// Paging of the id-keyed admin lists: the query's parameters, strictly, and
// the pages they select.
#include "appliance/server/list_page.h"

#include <gtest/gtest.h>

namespace sealgate::appliance {
namespace {

Result<ListPageQuery> parse(const std::string& query) {
  Request r;
  r.query = query;
  return listPageQuery(r);
}

std::vector<std::string> ids(const ListPage<std::string>& page) {
  std::vector<std::string> out;
  for (const auto* s : page.items) out.push_back(*s);
  return out;
}

ListPage<std::string> page(const std::vector<std::string>& all, const std::string& query) {
  auto q = parse(query);
  EXPECT_TRUE(q) << query;
  return pageOf(
      all, [](const std::string& s) -> const std::string& { return s; }, *q);
}

TEST(ListPageQuery, DefaultsWithoutParameters) {
  auto q = parse("");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->limit, ListPageQuery::kDefaultLimit);
  EXPECT_EQ(q->after, "");
  EXPECT_EQ(q->contains, "");
}

TEST(ListPageQuery, ReadsEachParameter) {
  auto q = parse("limit=7&after=a%2Fb&q=x+y");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->limit, 7u);
  EXPECT_EQ(q->after, "a/b");
  EXPECT_EQ(q->contains, "x y");
}

TEST(ListPageQuery, RefusesWhatItDoesNotTake) {
  for (const char* bad : {"limit=0", "limit=1001", "limit=-1", "limit=01", "limit=", "limit=abc", "limit=99999",
                          "offset=3", "limit=2&limit=3", "q=a&q=b", "q=%zz", "q=a%0Ab", "reason=x"}) {
    auto q = parse(bad);
    ASSERT_FALSE(q) << bad;
    EXPECT_EQ(q.error().code, ErrorCode::InvalidRequest) << bad;
  }
  EXPECT_FALSE(parse("q=" + std::string(257, 'a')));
  EXPECT_TRUE(parse("q=" + std::string(256, 'a')));
  EXPECT_TRUE(parse("limit=1000"));
}

TEST(ListPage, PagesInIdOrderWithANextCursor) {
  const std::vector<std::string> all = {"d", "a", "e", "c", "b"};
  auto first = page(all, "limit=2");
  EXPECT_EQ(ids(first), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(first.total, 5u);
  ASSERT_TRUE(first.nextAfter);
  EXPECT_EQ(*first.nextAfter, "b");
  auto second = page(all, "limit=2&after=b");
  EXPECT_EQ(ids(second), (std::vector<std::string>{"c", "d"}));
  auto last = page(all, "limit=2&after=d");
  EXPECT_EQ(ids(last), (std::vector<std::string>{"e"}));
  EXPECT_FALSE(last.nextAfter);
  EXPECT_EQ(last.total, 5u);
  // A cursor that names no id starts past where it would sort.
  EXPECT_EQ(ids(page(all, "after=bb")), (std::vector<std::string>{"c", "d", "e"}));
  EXPECT_TRUE(page(all, "after=z").items.empty());
  // Exactly one page: no cursor.
  EXPECT_FALSE(page(all, "limit=5").nextAfter);
}

TEST(ListPage, FiltersBySubstringBeforePaging) {
  const std::vector<std::string> all = {"grant-ab1", "grant-xy2", "lease-ab3", "grant-ab4"};
  auto p = page(all, "q=ab&limit=2");
  EXPECT_EQ(ids(p), (std::vector<std::string>{"grant-ab1", "grant-ab4"}));
  EXPECT_EQ(p.total, 3u);
  ASSERT_TRUE(p.nextAfter);
  EXPECT_EQ(ids(page(all, "q=ab&after=" + *p.nextAfter)), (std::vector<std::string>{"lease-ab3"}));
  EXPECT_EQ(page(all, "q=nothing").total, 0u);
}

}  // namespace
}  // namespace sealgate::appliance
