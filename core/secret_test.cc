#include "core/secret.h"

#include <gtest/gtest.h>

#include <type_traits>

namespace sealgate {
namespace {

static_assert(!std::is_copy_constructible_v<Secret>);
static_assert(!std::is_copy_assignable_v<Secret>);
static_assert(std::is_nothrow_move_constructible_v<Secret>);
static_assert(!std::is_convertible_v<Secret, std::string>);

TEST(Secret, HoldsACopyOfTheBytes) {
  auto s = Secret::copyFrom(std::string_view("canary-value"));
  ASSERT_TRUE(s.ok());
  auto bytes = s->exposeSecretBytes();
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "canary-value");
}

TEST(Secret, MovedFromIsEmpty) {
  auto s = Secret::copyFrom(std::string_view("abc"));
  ASSERT_TRUE(s.ok());
  Secret a = std::move(*s);
  EXPECT_EQ(a.size(), 3u);
  EXPECT_TRUE(s->empty());  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_EQ(s->exposeSecretBytes().data(), nullptr);
  Secret b;
  b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT
  EXPECT_EQ(b.size(), 3u);
}

TEST(Secret, ConstantTimeEquality) {
  auto a = Secret::copyFrom(std::string_view("abc"));
  auto b = Secret::copyFrom(std::string_view("abc"));
  auto c = Secret::copyFrom(std::string_view("abd"));
  auto d = Secret::copyFrom(std::string_view("abcd"));
  EXPECT_TRUE(a->equals(*b));
  EXPECT_FALSE(a->equals(*c));
  EXPECT_FALSE(a->equals(*d));
}

TEST(Secret, TruncateWipesTheTail) {
  auto s = Secret::copyFrom(std::string_view("1234\n"));
  ASSERT_TRUE(s.ok());
  s->truncate(4);
  EXPECT_EQ(s->size(), 4u);
  // The byte past the new end belongs to the same allocation and must be zero.
  EXPECT_EQ(s->exposeSecretBytes().data()[4], 0);
}

TEST(Secret, AllocateIsZeroFilled) {
  auto s = Secret::allocate(64);
  ASSERT_TRUE(s.ok());
  for (auto b : s->exposeSecretBytes()) EXPECT_EQ(b, 0);
}

}  // namespace
}  // namespace sealgate
