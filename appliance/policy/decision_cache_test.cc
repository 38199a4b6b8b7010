#include "appliance/policy/decision_cache.h"

#include <gtest/gtest.h>

namespace sealgate::appliance {
namespace {

// Allows URIs containing "/ok", marks those containing "/cache" cacheable; counts calls.
class CountingPdp : public DecisionPoint {
 public:
  Result<std::vector<Decision>> decide(const DecisionSubject&, const std::vector<DecisionRequest>& requests,
                                       std::chrono::milliseconds) override {
    ++calls;
    asked += requests.size();
    if (failing) return makeError(ErrorCode::PdpUnavailable, "down");
    std::vector<Decision> out;
    for (const auto& r : requests) {
      Decision d;
      d.index = r.index;
      d.allow = r.canonicalUri.find("/ok") != std::string::npos;
      d.cacheable = r.canonicalUri.find("/cache") != std::string::npos;
      d.reason = d.allow ? "rule" : "POLICY_NO_MATCH";
      out.push_back(d);
    }
    return out;
  }
  int calls = 0;
  std::size_t asked = 0;
  bool failing = false;
};

const DecisionSubject kWho{"spiffe://acme/payments", "acme", "payments"};
DecisionRequest ask(std::size_t i, const std::string& uri) { return DecisionRequest{i, uri, "use", "{}"}; }

TEST(DecisionCache, DeniesAreCachedBrieflyAllowsOnlyWhenCacheable) {
  CountingPdp pdp;
  CachingDecisionPoint cache(pdp, std::chrono::milliseconds(2000), std::chrono::milliseconds(30000));
  auto now = CachingDecisionPoint::Clock::now();
  cache.setClock([&] { return now; });
  const std::vector<DecisionRequest> batch{ask(0, "secret://acme/kv/no"), ask(1, "secret://acme/kv/ok"),
                                           ask(2, "secret://acme/kv/ok/cache")};
  auto first = cache.decide(kWho, batch, std::chrono::milliseconds(100));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(pdp.calls, 1);
  EXPECT_EQ(pdp.asked, 3u);
  auto second = cache.decide(kWho, batch, std::chrono::milliseconds(100));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(pdp.calls, 2);
  EXPECT_EQ(pdp.asked, 4u);  // only the non-cacheable allow went back to the PDP
  EXPECT_FALSE((*second)[0].allow);
  EXPECT_TRUE((*second)[1].allow);
  EXPECT_TRUE((*second)[2].allow);
  EXPECT_EQ((*second)[2].index, 2u);
  now += std::chrono::milliseconds(2500);  // the deny expired, the cacheable allow has not
  ASSERT_TRUE(cache.decide(kWho, batch, std::chrono::milliseconds(100)).ok());
  EXPECT_EQ(pdp.asked, 6u);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
}

TEST(DecisionCache, FailuresAreNotCachedAndOtherSubjectsMiss) {
  CountingPdp pdp;
  CachingDecisionPoint cache(pdp, std::chrono::milliseconds(2000), std::chrono::milliseconds(30000));
  pdp.failing = true;
  EXPECT_FALSE(cache.decide(kWho, {ask(0, "secret://acme/kv/no")}, std::chrono::milliseconds(100)).ok());
  EXPECT_EQ(cache.size(), 0u);
  pdp.failing = false;
  ASSERT_TRUE(cache.decide(kWho, {ask(0, "secret://acme/kv/no")}, std::chrono::milliseconds(100)).ok());
  const DecisionSubject other{"spiffe://acme/other", "acme", "other"};
  ASSERT_TRUE(cache.decide(other, {ask(0, "secret://acme/kv/no")}, std::chrono::milliseconds(100)).ok());
  EXPECT_EQ(pdp.calls, 3);
}

TEST(DecisionCache, HealthCountsThePdpsCallsAndNamesTheLastFailure) {
  CountingPdp pdp;
  CachingDecisionPoint cache(pdp, std::chrono::milliseconds(2000), std::chrono::milliseconds(0));
  EXPECT_EQ(cache.health().calls, 0u);
  EXPECT_EQ(cache.health().lastAt, std::chrono::system_clock::time_point());
  const std::vector<DecisionRequest> denied{ask(0, "secret://acme/kv/no")};
  ASSERT_TRUE(cache.decide(kWho, denied, std::chrono::milliseconds(100)).ok());
  ASSERT_TRUE(cache.decide(kWho, denied, std::chrono::milliseconds(100)).ok());  // a cache hit: no call
  auto h = cache.health();
  EXPECT_EQ(h.calls, 1u);
  EXPECT_EQ(h.failures, 0u);
  EXPECT_TRUE(h.lastOk);
  EXPECT_NE(h.lastAt, std::chrono::system_clock::time_point());
  EXPECT_GE(h.lastLatencyMs, 0);
  pdp.failing = true;
  EXPECT_FALSE(cache.decide(kWho, {ask(0, "secret://acme/kv/ok")}, std::chrono::milliseconds(100)).ok());
  h = cache.health();
  EXPECT_EQ(h.calls, 2u);
  EXPECT_EQ(h.failures, 1u);
  EXPECT_FALSE(h.lastOk);
  EXPECT_EQ(h.lastErrorCode, "PDP_UNAVAILABLE");
  pdp.failing = false;
  ASSERT_TRUE(cache.decide(kWho, {ask(0, "secret://acme/kv/ok")}, std::chrono::milliseconds(100)).ok());
  h = cache.health();
  EXPECT_TRUE(h.lastOk);
  EXPECT_EQ(h.lastErrorCode, "");
  EXPECT_EQ(h.failures, 1u);  // a count, not a state
}

}  // namespace
}  // namespace sealgate::appliance
