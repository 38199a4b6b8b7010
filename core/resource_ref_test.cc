#include "core/resource_ref.h"

#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <atomic>
#include <thread>

#include "core/encoding.h"

namespace sealgate {
namespace {

// A software HMAC standing in for the HSM key in this unit test only; the real
// HSM-backed KeyedMac is tested against SoftHSM2 in hsm/.
class CountingSoftwareMac : public KeyedMac {
 public:
  explicit CountingSoftwareMac(unsigned version = 7, unsigned char keyByte = 1) : version_(version), key_(keyByte) {}
  Result<Mac256> mac(std::string_view data) override {
    ++calls;
    Mac256 out{};
    unsigned len = 0;
    const unsigned char kKey[32] = {key_, 2, 3};
    HMAC(EVP_sha256(), kKey, sizeof kKey, reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
         &len);
    return out;
  }
  unsigned keyVersion() const override { return version_; }
  std::atomic<int> calls{0};

 private:
  unsigned version_;
  unsigned char key_;
};

class FailingMac : public KeyedMac {
 public:
  Result<Mac256> mac(std::string_view) override { return makeError(ErrorCode::HsmUnavailable, "down"); }
  unsigned keyVersion() const override { return 1; }
};

TEST(ResourceRef, FormatIsRr1VersionAnd26Base32Chars) {
  Mac256 mac{};
  for (std::size_t i = 0; i < mac.size(); ++i) mac[i] = static_cast<std::uint8_t>(i);
  std::string ref = formatResourceRef(3, mac);
  EXPECT_EQ(ref, "rr1:v3:" + base32LowerNoPad(mac).substr(0, 26));
  EXPECT_EQ(ref.size(), 7u + 26u);
  EXPECT_EQ(ref.substr(7), "aaaqeayeaudaocajbifqydiob4");
}

TEST(ResourceRef, CachesByCanonicalUriAndEvictsLeastRecent) {
  CountingSoftwareMac mac;
  ResourceRefs refs(mac, 2);
  auto a1 = refs.ofCanonical("secret://acme/kv/a");
  auto a2 = refs.ofCanonical("secret://acme/kv/a");
  ASSERT_TRUE(a1.ok());
  EXPECT_EQ(*a1, *a2);
  EXPECT_EQ(mac.calls.load(), 1);
  ASSERT_TRUE(refs.ofCanonical("secret://acme/kv/b").ok());
  ASSERT_TRUE(refs.ofCanonical("secret://acme/kv/a").ok());  // a is now most recent
  ASSERT_TRUE(refs.ofCanonical("secret://acme/kv/c").ok());  // evicts b
  EXPECT_EQ(refs.cachedCount(), 2u);
  EXPECT_EQ(mac.calls.load(), 3);
  ASSERT_TRUE(refs.ofCanonical("secret://acme/kv/a").ok());
  EXPECT_EQ(mac.calls.load(), 3);
  ASSERT_TRUE(refs.ofCanonical("secret://acme/kv/b").ok());
  EXPECT_EQ(mac.calls.load(), 4);
}

TEST(ResourceRef, DifferentUrisGiveDifferentRefs) {
  CountingSoftwareMac mac;
  ResourceRefs refs(mac, 16);
  auto u1 = SecretUri::parse("secret://acme/kv/app/db#password");
  auto u2 = SecretUri::parse("secret://acme/kv/app/db#username");
  ASSERT_TRUE(u1.ok() && u2.ok());
  EXPECT_NE(*refs.of(*u1), *refs.of(*u2));
  EXPECT_EQ(refs.of(*u1)->rfind("rr1:v7:", 0), 0u);
}

TEST(ResourceRef, MacFailureFailsClosedAndIsNotCached) {
  FailingMac mac;
  ResourceRefs refs(mac, 16);
  auto r = refs.ofCanonical("secret://acme/kv/a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::HsmUnavailable);
  EXPECT_EQ(refs.cachedCount(), 0u);
}

TEST(ResourceRef, ConcurrentLookupsAgree) {
  CountingSoftwareMac mac;
  ResourceRefs refs(mac, 8);
  const std::string expected = *refs.ofCanonical("secret://acme/kv/x");
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        auto r = refs.ofCanonical(i % 2 ? "secret://acme/kv/x" : "secret://acme/kv/y" + std::to_string(t));
        if (!r.ok() || (i % 2 && *r != expected)) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_LE(refs.cachedCount(), 8u);
}

TEST(ResourceRef, VersionIsReadFromWellFormedRefsOnly) {
  EXPECT_EQ(resourceRefVersion("rr1:v1:aaaa"), 1u);
  EXPECT_EQ(resourceRefVersion("rr1:v123456789:x"), 123456789u);
  for (const char* bad : {"", "rr1:v", "rr1:v:", "rr1:v0:x", "rr1:v01:x", "rr1:vx:x", "rr1:v1", "rr2:v1:x", "RR1:v1:x",
                          "rr1:v1234567890:x", "rr1:v-1:x", " rr1:v1:x"}) {
    EXPECT_FALSE(resourceRefVersion(bad).has_value()) << bad;
  }
}

TEST(ResourceRef, RotationComputesUnderTheActiveVersionAndKeepsEarlierOnesUntilRetired) {
  CountingSoftwareMac v1(1, 1), v2(2, 9);
  ResourceRefs refs(v1, 16);
  const std::string uri = "secret://acme/kv/a";
  const std::string old = *refs.ofCanonical(uri);
  EXPECT_EQ(old.rfind("rr1:v1:", 0), 0u);
  EXPECT_EQ(refs.activate(2).error().code, ErrorCode::KeyUnknown);
  refs.addKey(v2);
  ASSERT_TRUE(refs.activate(2).ok());
  EXPECT_EQ(refs.activeVersion(), 2u);
  const std::string now = *refs.ofCanonical(uri);
  EXPECT_EQ(now.rfind("rr1:v2:", 0), 0u);
  EXPECT_NE(now.substr(7), old.substr(7));
  EXPECT_EQ(*refs.ofCanonical(uri, 1), old);  // the cache keeps versions apart
  EXPECT_EQ(refs.ofCanonical(uri, 3).error().code, ErrorCode::KeyUnknown);

  // A grant's refs decide the version.
  EXPECT_EQ(*refs.ofGranted(uri, {old}), old);
  EXPECT_EQ(*refs.ofGranted(uri, {now}), now);
  EXPECT_EQ(*refs.ofGranted(uri, {}), now);
  EXPECT_EQ(*refs.ofGranted(uri, {"not-a-ref"}), now);
  EXPECT_EQ(*refs.ofGranted(uri, {"rr1:v1:zzzzzzzzzzzzzzzzzzzzzzzzzz"}), old) << "not covered: its v1 ref";
  EXPECT_EQ(*refs.ofGranted(uri, {"rr1:v1:zzzzzzzzzzzzzzzzzzzzzzzzzz", now}), now);

  EXPECT_EQ(refs.retire(2).error().code, ErrorCode::KeyActive);
  EXPECT_EQ(refs.retire(5).error().code, ErrorCode::KeyUnknown);
  ASSERT_TRUE(refs.retire(1).ok());
  EXPECT_TRUE(refs.retired(1));
  EXPECT_FALSE(refs.retired(2));
  EXPECT_EQ(refs.ofCanonical(uri, 1).error().code, ErrorCode::KeyRetired);
  EXPECT_EQ(refs.ofGranted(uri, {old}).error().code, ErrorCode::KeyRetired);
  EXPECT_EQ(refs.activate(1).error().code, ErrorCode::KeyRetired);
  const auto versions = refs.versions();
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_TRUE(versions[0].retired && !versions[0].active);
  EXPECT_TRUE(versions[1].active && !versions[1].retired);
}

}  // namespace
}  // namespace sealgate
