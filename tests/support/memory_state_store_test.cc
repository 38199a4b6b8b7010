#include "tests/support/memory_state_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sealgate::appliance {
namespace {

using Clock = std::chrono::system_clock;

TEST(MemoryStateStore, RememberOnceDetectsReplayUntilExpiry) {
  MemoryStateStore store;
  const auto later = Clock::now() + std::chrono::minutes(1);
  EXPECT_TRUE(*store.rememberOnce("dpop:k:j1", later));
  EXPECT_FALSE(*store.rememberOnce("dpop:k:j1", later));
  EXPECT_TRUE(*store.rememberOnce("dpop:k:j2", later));
  // An id whose window has already passed counts as seen (the pruning horizon:
  // the store may have dropped it); with a window ahead it is recorded.
  EXPECT_FALSE(*store.rememberOnce("dpop:k:old", Clock::now() - std::chrono::seconds(1)));
  EXPECT_TRUE(*store.rememberOnce("dpop:k:old", later));
  EXPECT_FALSE(*store.rememberOnce("dpop:k:old", later));
}

TEST(MemoryStateStore, FollowsTheGrantLifetimeAndAncestryContract) {
  MemoryStateStore store;
  const auto later = Clock::now() + std::chrono::minutes(1);
  ASSERT_TRUE(store.takeUses(StateStore::UseRequest{"root", 1, 3, later, {}}));
  ASSERT_TRUE(store.revoke("root", later));
  EXPECT_EQ(store.takeUses(StateStore::UseRequest{"child", 1, 1, later, {"root"}}).error().code,
            ErrorCode::GrantRevoked);
  EXPECT_TRUE(store.takeUses(StateStore::UseRequest{"other", 1, 1, later, {"unrelated"}}));
  // An unknown grant whose retention already ended is not started afresh.
  EXPECT_EQ(store.takeUse("gone", 3, Clock::now() - std::chrono::seconds(1)).error().code, ErrorCode::GrantExpired);
}

TEST(MemoryStateStore, ExactlyMaxUsesSucceedUnderRacingThreads) {
  MemoryStateStore store;
  const auto exp = Clock::now() + std::chrono::minutes(5);
  constexpr std::uint32_t kMaxUses = 37;
  std::atomic<int> ok{0}, exhausted{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto r = store.takeUse("grant-1", kMaxUses, exp);
        if (r.ok()) {
          ++ok;
        } else if (r.error().code == ErrorCode::GrantExhausted) {
          ++exhausted;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), static_cast<int>(kMaxUses));
  EXPECT_EQ(exhausted.load(), 16 * 50 - static_cast<int>(kMaxUses));
  EXPECT_EQ(other.load(), 0);
}

TEST(MemoryStateStore, TakeUsesIsAllOrNothing) {
  MemoryStateStore store;
  const auto exp = Clock::now() + std::chrono::minutes(5);
  EXPECT_EQ(*store.takeUses("p", 3, 5, exp), 2u);
  EXPECT_EQ(store.takeUses("p", 3, 5, exp).error().code, ErrorCode::GrantExhausted);
  EXPECT_EQ(*store.takeUses("p", 2, 5, exp), 0u);  // the failed call took nothing
  EXPECT_FALSE(store.takeUses("q", 0, 5, exp).ok());
}

TEST(MemoryStateStore, RemainingCountsDownAndRevokeStopsUse) {
  MemoryStateStore store;
  const auto exp = Clock::now() + std::chrono::minutes(5);
  EXPECT_EQ(*store.takeUse("g", 3, exp), 2u);
  EXPECT_EQ(*store.takeUse("g", 3, exp), 1u);
  ASSERT_TRUE(store.revoke("g", exp).ok());
  auto r = store.takeUse("g", 3, exp);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::GrantRevoked);
  ASSERT_TRUE(store.revoke("never-used", exp).ok());
  EXPECT_EQ(store.takeUse("never-used", 3, exp).error().code, ErrorCode::GrantRevoked);
  const auto listed = store.grants();
  ASSERT_EQ(listed.size(), 2u);
  for (const auto& g : listed) EXPECT_TRUE(g.revoked) << g.grantId;
}

}  // namespace
}  // namespace sealgate::appliance
