#include "providers/kv_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "appliance/keys/data_key_sealer.h"
#include "core/encoding.h"
#include "tests/support/temp_token.h"

namespace sealgate::providers {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

hsm::KeyStore& sharedKeys() {
  static std::unique_ptr<hsm::KeyStore> keys = [] {
    auto k = testing::openFreshToken("kv-test");
    if (!k->generateAes256Key("sealgate-kek")) std::abort();
    return k;
  }();
  return *keys;
}

Secret secretOf(const std::string& s) { return std::move(Secret::copyFrom(s).value()); }

std::string text(const Secret& s) {
  auto b = s.exposeSecretBytes();
  return std::string(b.begin(), b.end());
}

class KvStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sealgate-kv-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    sealer_ = std::make_unique<appliance::HsmTpmDataKeySealer>(sharedKeys(), "sealgate-kek", nullptr,
                                                               std::vector<unsigned>{});
    settings_.dir = root_ + "/kv";
    settings_.mounts = {{"acme", {"kv"}}, {"globex", {"kv"}}};
    reopen();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }
  void reopen() {
    store_.reset();
    auto s = KvStore::open(settings_, *sealer_);
    ASSERT_TRUE(s) << s.error().describe();
    store_ = std::move(*s);
  }
  KvPath p(const std::string& path, const std::string& ns = "acme") { return KvPath{ns, "kv", path}; }

  std::string root_;
  std::unique_ptr<appliance::HsmTpmDataKeySealer> sealer_;
  KvStoreSettings settings_;
  std::unique_ptr<KvStore> store_;
};

TEST_F(KvStoreTest, VersionsReadBackAndSurviveReopen) {
  ASSERT_TRUE(store_->put(p("app/db"), secretOf(R"({"password":"one"})"), std::nullopt));
  auto v2 = store_->put(p("app/db"), secretOf(R"({"password":"two"})"), std::nullopt);
  ASSERT_TRUE(v2);
  EXPECT_EQ(v2->version, 2u);
  reopen();
  auto latest = store_->read(p("app/db"), 0);
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->version.version, 2u);
  EXPECT_EQ(text(*latest->data), R"({"password":"two"})");
  auto first = store_->read(p("app/db"), 1);
  ASSERT_TRUE(first);
  EXPECT_EQ(text(*first->data), R"({"password":"one"})");
  EXPECT_EQ(store_->read(p("app/db"), 3).error().code, provider_errc::kNotFound);
  EXPECT_EQ(store_->read(p("app/other"), 0).error().code, provider_errc::kNotFound);
}

TEST_F(KvStoreTest, NamespacesAndMountsAreSeparate) {
  ASSERT_TRUE(store_->put(p("app/db"), secretOf(R"({"a":"acme"})"), std::nullopt));
  EXPECT_EQ(store_->read(p("app/db", "globex"), 0).error().code, provider_errc::kNotFound);
  EXPECT_EQ(store_->put(KvPath{"acme", "nomount", "x"}, secretOf("{}"), std::nullopt).error().code, kv_errc::kNoMount);
  EXPECT_EQ(store_->put(KvPath{"initech", "kv", "x"}, secretOf("{}"), std::nullopt).error().code, kv_errc::kNoMount);
}

TEST_F(KvStoreTest, BadPathsAreRejected) {
  for (const char* bad : {"", "a//b", "a/../b", "a/", "/a", "a b", "a%2Fb"}) {
    EXPECT_EQ(store_->put(p(bad), secretOf("{}"), std::nullopt).error().code, kv_errc::kInvalid) << bad;
  }
}

TEST_F(KvStoreTest, CheckAndSet) {
  ASSERT_TRUE(store_->put(p("k"), secretOf("{}"), 0u));                                    // cas 0: create only
  EXPECT_EQ(store_->put(p("k"), secretOf("{}"), 0u).error().code, kv_errc::kCasMismatch);  // exists now
  EXPECT_EQ(store_->put(p("k"), secretOf("{}"), 2u).error().code, kv_errc::kCasMismatch);  // stale/future
  ASSERT_TRUE(store_->put(p("k"), secretOf("{}"), 1u));
  ASSERT_TRUE(store_->writeMetadata(p("k"), KvMetadataUpdate{std::nullopt, true, std::nullopt, std::nullopt}, true));
  EXPECT_EQ(store_->put(p("k"), secretOf("{}"), std::nullopt).error().code, kv_errc::kCasRequired);
  ASSERT_TRUE(store_->put(p("k"), secretOf("{}"), 2u));
  // cas_required on the mount applies to every key of it
  ASSERT_TRUE(store_->setMountConfig("acme", "kv", KvMountConfig{0, true, seconds(0)}));
  EXPECT_EQ(store_->put(p("other"), secretOf("{}"), std::nullopt).error().code, kv_errc::kCasRequired);
  reopen();
  EXPECT_TRUE(store_->mountConfig("acme", "kv")->casRequired);
  EXPECT_FALSE(store_->mountConfig("globex", "kv")->casRequired);
}

TEST_F(KvStoreTest, MaxVersionsRemovesTheOldest) {
  ASSERT_TRUE(store_->writeMetadata(p("k"), KvMetadataUpdate{3u, std::nullopt, std::nullopt, std::nullopt}, false));
  for (int i = 1; i <= 5; ++i)
    ASSERT_TRUE(store_->put(p("k"), secretOf("{\"v\":" + std::to_string(i) + "}"), std::nullopt));
  auto meta = store_->metadata(p("k"));
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->currentVersion, 5u);
  EXPECT_EQ(meta->oldestVersion, 3u);
  EXPECT_EQ(meta->versions.size(), 3u);
  EXPECT_EQ(store_->read(p("k"), 2).error().code, provider_errc::kNotFound);
  EXPECT_TRUE(store_->read(p("k"), 3));
  // the default is 10
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(store_->put(p("d"), secretOf("{}"), std::nullopt));
  EXPECT_EQ(store_->metadata(p("d"))->versions.size(), 10u);
  EXPECT_EQ(store_->metadata(p("d"))->oldestVersion, 3u);
}

TEST_F(KvStoreTest, SoftDeleteUndeleteDestroy) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->put(p("k"), secretOf(R"({"x":"y"})"), std::nullopt));
  ASSERT_TRUE(store_->softDelete(p("k"), {}));  // the latest
  auto r3 = store_->read(p("k"), 3);
  ASSERT_TRUE(r3);
  EXPECT_FALSE(r3->data.has_value());
  EXPECT_TRUE(r3->version.deletionTime.has_value());
  ASSERT_TRUE(store_->softDelete(p("k"), {1}));
  EXPECT_FALSE(store_->read(p("k"), 1)->data.has_value());
  EXPECT_TRUE(store_->read(p("k"), 2)->data.has_value());
  EXPECT_EQ(store_->undelete(p("k"), {}).error().code, kv_errc::kInvalid);
  ASSERT_TRUE(store_->undelete(p("k"), {1, 3}));
  EXPECT_EQ(text(*store_->read(p("k"), 3)->data), R"({"x":"y"})");
  ASSERT_TRUE(store_->destroy(p("k"), {2}));
  reopen();
  auto r2 = store_->read(p("k"), 2);
  ASSERT_TRUE(r2);
  EXPECT_TRUE(r2->version.destroyed);
  EXPECT_FALSE(r2->data.has_value());
  ASSERT_TRUE(store_->undelete(p("k"), {2}));  // a destroyed version stays destroyed
  EXPECT_TRUE(store_->read(p("k"), 2)->version.destroyed);
  // the provider's view
  auto uri = SecretUri::parse("secret://acme/kv/k?version=2#x");
  EXPECT_EQ(store_->fetch(*uri).error().code, provider_errc::kVersionDestroyed);
  ASSERT_TRUE(store_->softDelete(p("k"), {3}));
  EXPECT_EQ(store_->fetch(*SecretUri::parse("secret://acme/kv/k#x")).error().code, provider_errc::kVersionDeleted);
  auto v1 = store_->fetch(*SecretUri::parse("secret://acme/kv/k?version=1#x"));
  ASSERT_TRUE(v1);
  EXPECT_EQ(text(v1->value), "y");
  EXPECT_EQ(*v1->metadata.kvVersion, 1u);
  EXPECT_EQ(store_->fetch(*SecretUri::parse("secret://acme/kv/k?version=1#nofield")).error().code,
            provider_errc::kNotFound);
}

TEST_F(KvStoreTest, DeleteVersionAfterSetsADeletionTime) {
  ASSERT_TRUE(
      store_->writeMetadata(p("k"), KvMetadataUpdate{std::nullopt, std::nullopt, seconds(60), std::nullopt}, false));
  const auto t0 = KvClock::now();
  ASSERT_TRUE(store_->put(p("k"), secretOf("{}"), std::nullopt, t0));
  auto before = store_->read(p("k"), 1, t0 + seconds(59));
  ASSERT_TRUE(before);
  EXPECT_TRUE(before->data.has_value());
  auto after = store_->read(p("k"), 1, t0 + seconds(61));
  ASSERT_TRUE(after);
  EXPECT_FALSE(after->data.has_value());
}

TEST_F(KvStoreTest, MetadataCustomAndDeleteAndList) {
  ASSERT_TRUE(store_->put(p("app/db"), secretOf("{}"), std::nullopt));
  ASSERT_TRUE(store_->put(p("app/web/tls"), secretOf("{}"), std::nullopt));
  ASSERT_TRUE(store_->put(p("root"), secretOf("{}"), std::nullopt));
  ASSERT_TRUE(store_->writeMetadata(
      p("app/db"), KvMetadataUpdate{std::nullopt, std::nullopt, std::nullopt, nlohmann::json{{"owner", "team-a"}}},
      false));
  ASSERT_TRUE(store_->writeMetadata(
      p("app/db"), KvMetadataUpdate{std::nullopt, std::nullopt, std::nullopt, nlohmann::json{{"tier", "1"}}}, true));
  EXPECT_EQ(store_->metadata(p("app/db"))->customMetadata, (nlohmann::json{{"owner", "team-a"}, {"tier", "1"}}));
  EXPECT_EQ(
      store_
          ->writeMetadata(p("app/db"),
                          KvMetadataUpdate{std::nullopt, std::nullopt, std::nullopt, nlohmann::json{{"n", 1}}}, false)
          .error()
          .code,
      kv_errc::kInvalid);
  EXPECT_EQ(store_->writeMetadata(p("nope"), KvMetadataUpdate{}, true).error().code, provider_errc::kNotFound);
  EXPECT_EQ(*store_->list("acme", "kv", ""), (std::vector<std::string>{"app/", "root"}));
  EXPECT_EQ(*store_->list("acme", "kv", "app/"), (std::vector<std::string>{"db", "web/"}));
  EXPECT_EQ(store_->list("acme", "kv", "none/").error().code, provider_errc::kNotFound);
  EXPECT_EQ(store_->list("acme", "kv", "../").error().code, kv_errc::kInvalid);
  ASSERT_TRUE(store_->deleteMetadata(p("app/db")));
  reopen();
  EXPECT_EQ(store_->metadata(p("app/db")).error().code, provider_errc::kNotFound);
  EXPECT_EQ(*store_->list("acme", "kv", "app/"), (std::vector<std::string>{"web/"}));
  // a new key at the same path starts again at version 1
  EXPECT_EQ(store_->put(p("app/db"), secretOf("{}"), 0u)->version, 1u);
}

TEST_F(KvStoreTest, ValuesAreEncryptedAtRestAndTamperingFailsClosed) {
  const std::string canary = "kv-canary-3f9a0c1d7e";
  ASSERT_TRUE(store_->put(p("app/db"), secretOf("{\"password\":\"" + canary + "\"}"), std::nullopt));
  for (const auto& f : fs::recursive_directory_iterator(settings_.dir)) {
    if (!f.is_regular_file()) continue;
    std::ifstream in(f.path(), std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(content.find(canary), std::string::npos) << f.path();
    EXPECT_EQ(content.find("app/db"), std::string::npos) << f.path();  // paths are sensitive too
    EXPECT_EQ(content.find(hexLower(asBytes(canary))), std::string::npos);
  }
  store_.reset();
  fs::path record;
  for (const auto& f : fs::directory_iterator(settings_.dir + "/keys")) record = f.path();
  {
    std::fstream io(record, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(40);
    io.put('\x55');
  }
  auto tampered = KvStore::open(settings_, *sealer_);
  ASSERT_FALSE(tampered);
  EXPECT_EQ(tampered.error().code, kv_errc::kTampered);
  // keys without the sealed data key: refuse, never start afresh
  fs::remove(settings_.dir + "/datakey.sealed");
  auto noKey = KvStore::open(settings_, *sealer_);
  ASSERT_FALSE(noKey);
  EXPECT_EQ(noKey.error().code, kv_errc::kTampered);
}

TEST_F(KvStoreTest, FailedWritesChangeNothing) {
  ASSERT_TRUE(store_->put(p("k"), secretOf(R"({"a":"1"})"), std::nullopt));
  fs::path record;
  for (const auto& f : fs::directory_iterator(settings_.dir + "/keys")) record = f.path();
  // A directory where the temp file must go: the write cannot be made durable
  // (this holds for root too, unlike permissions).
  fs::create_directory(record.string() + ".tmp");
  auto w = store_->put(p("k"), secretOf(R"({"a":"2"})"), std::nullopt);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, provider_errc::kUnavailable);
  EXPECT_EQ(store_->metadata(p("k"))->currentVersion, 1u);
  EXPECT_FALSE(store_->softDelete(p("k"), {}));
  EXPECT_TRUE(store_->read(p("k"), 1)->data.has_value());
  fs::remove(record.string() + ".tmp");
  reopen();
  EXPECT_EQ(store_->metadata(p("k"))->currentVersion, 1u);
}

}  // namespace
}  // namespace sealgate::providers
