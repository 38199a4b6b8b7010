#include "providers/file_provider.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "providers/kv_store.h"

namespace sealgate::providers {
namespace {

using nlohmann::json;

std::string text(const Secret& s) {
  auto b = s.exposeSecretBytes();
  return std::string(b.begin(), b.end());
}

class FileProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sealgate-file-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/secrets.json";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Writes by rename, as editors and deploy tools do (a new inode each time).
  void write(const std::string& content) {
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << content;
    std::filesystem::rename(tmp, path_);
  }
  std::string dir_, path_;
};

TEST_F(FileProviderTest, ServesFieldsAndReloadsWhenTheFileChanges) {
  write(R"({"secrets": {"secret://acme/dev/app/db": {"password": "one", "port": 5432}}})");
  auto p = FileProvider::open(path_, false);
  ASSERT_TRUE(p) << p.error().describe();
  auto v = (*p)->fetch(*SecretUri::parse("secret://ACME/dev/app/db#password"));
  ASSERT_TRUE(v);
  EXPECT_EQ(text(v->value), "one");
  EXPECT_EQ(text((*p)->fetch(*SecretUri::parse("secret://acme/dev/app/db#port"))->value), "5432");
  EXPECT_EQ(text((*p)->fetch(*SecretUri::parse("secret://acme/dev/app/db"))->value),
            R"({"password":"one","port":5432})");
  write(R"({"secrets": {"secret://acme/dev/app/db": {"password": "two"}}})");
  EXPECT_EQ(text((*p)->fetch(*SecretUri::parse("secret://acme/dev/app/db#password"))->value), "two");
  EXPECT_EQ((*p)->fetch(*SecretUri::parse("secret://acme/dev/app/db#port")).error().code, provider_errc::kNotFound);
  EXPECT_EQ((*p)->fetch(*SecretUri::parse("secret://acme/dev/app/other#x")).error().code, provider_errc::kNotFound);
  EXPECT_EQ((*p)->fetch(*SecretUri::parse("secret://acme/dev/app/db?version=1#password")).error().code,
            provider_errc::kNotFound);
  EXPECT_TRUE((*p)->healthy());
}

TEST_F(FileProviderTest, RefusedInProduction) {
  write(R"({"secrets": {}})");
  auto p = FileProvider::open(path_, true);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, kFileProviderRefused);
}

TEST_F(FileProviderTest, ABrokenOrMissingFileFailsClosed) {
  write(R"({"secrets": {"secret://acme/dev/a": {"k": "v"}}})");
  auto p = FileProvider::open(path_, false);
  ASSERT_TRUE(p);
  write(R"({"secrets": {"secret://acme/dev/a": {"k": "v"}})");  // truncated
  auto f = (*p)->fetch(*SecretUri::parse("secret://acme/dev/a#k"));
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, provider_errc::kUnavailable);  // not the stale copy
  EXPECT_FALSE((*p)->healthy());
  write(R"({"secrets": {"secret://acme/dev/a": {"k": "w"}}})");
  EXPECT_EQ(text((*p)->fetch(*SecretUri::parse("secret://acme/dev/a#k"))->value), "w");
  std::filesystem::remove(path_);
  EXPECT_EQ((*p)->fetch(*SecretUri::parse("secret://acme/dev/a#k")).error().code, provider_errc::kUnavailable);
  for (const char* bad :
       {"[]", R"({"secrets": []})", R"({"secrets": {}, "extra": 1})", R"({"secrets": {"not-a-uri": {}}})",
        R"({"secrets": {"secret://acme/dev/a#f": {}}})", R"({"secrets": {"secret://acme/dev/a": "v"}})"}) {
    write(bad);
    EXPECT_FALSE(FileProvider::open(path_, false)) << bad;
  }
}

TEST_F(FileProviderTest, ReadsYamlByExtensionWithEveryScalarAsWritten) {
  path_ = dir_ + "/secrets.yaml";
  write(R"(# development secrets
secrets:
  secret://acme/dev/app/db:
    password: no        # YAML 1.1 would say false
    pin: 0123           # and octal here
    user: "app user"
)");
  auto p = FileProvider::open(path_, false);
  ASSERT_TRUE(p) << p.error().describe();
  EXPECT_EQ(text((*p)->fetch(*SecretUri::parse("secret://acme/dev/app/db#password"))->value), "no");
  EXPECT_EQ(text((*p)->fetch(*SecretUri::parse("secret://acme/dev/app/db#pin"))->value), "0123");
  EXPECT_EQ(text((*p)->fetch(*SecretUri::parse("secret://acme/dev/app/db"))->value),
            R"({"password":"no","pin":"0123","user":"app user"})");
  write("secrets:\n  secret://acme/dev/app/db: {password: two}\n");
  EXPECT_EQ(text((*p)->fetch(*SecretUri::parse("secret://acme/dev/app/db#password"))->value), "two");
  EXPECT_EQ((*p)->fetch(*SecretUri::parse("secret://acme/dev/app/db#pin")).error().code, provider_errc::kNotFound);

  path_ = dir_ + "/secrets.YML";
  write("secrets:\n  secret://acme/dev/b: {k: v}\n");
  auto yml = FileProvider::open(path_, false);
  ASSERT_TRUE(yml) << yml.error().describe();
  EXPECT_EQ(text((*yml)->fetch(*SecretUri::parse("secret://acme/dev/b#k"))->value), "v");
}

TEST_F(FileProviderTest, TheExtensionNotTheContentPicksTheFormat) {
  write("secrets:\n  secret://acme/dev/b: {k: v}\n");  // YAML in secrets.json
  EXPECT_FALSE(FileProvider::open(path_, false));
}

TEST_F(FileProviderTest, MalformedOrMisshapenYamlFailsClosed) {
  path_ = dir_ + "/secrets.yaml";
  write("secrets:\n  secret://acme/dev/a: {k: v}\n");
  auto p = FileProvider::open(path_, false);
  ASSERT_TRUE(p);
  write("secrets:\n  secret://acme/dev/a: {k: [hunter2\n");  // unterminated
  auto f = (*p)->fetch(*SecretUri::parse("secret://acme/dev/a#k"));
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, provider_errc::kUnavailable);  // not the stale copy
  EXPECT_NE(f.error().message.find("not valid YAML (line"), std::string::npos) << f.error().message;
  EXPECT_EQ(f.error().message.find("hunter2"), std::string::npos);
  EXPECT_FALSE((*p)->healthy());
  for (const char* bad :
       {"- a\n", "secrets: []\n", "secrets:\n", "secrets: {}\nextra: 1\n", "secrets:\n  not-a-uri: {}\n",
        "secrets:\n  secret://acme/dev/a#f: {}\n", "secrets:\n  secret://acme/dev/a: v\n",
        "secrets:\n  secret://acme/dev/a: {k: v, k: w}\n", "secrets:\n  ? [a, b]\n  : {}\n", "\"unterminated\n", ""}) {
    write(bad);
    EXPECT_FALSE(FileProvider::open(path_, false)) << bad;
  }
}

}  // namespace
}  // namespace sealgate::providers

#include "providers/provider_router.h"

namespace sealgate::providers {
namespace {

TEST_F(FileProviderTest, TheRouterPicksTheProviderByMount) {
  write(R"({"secrets": {"secret://acme/dev/a": {"k": "v"}, "secret://acme/other/a": {"k": "x"}}})");
  auto p = FileProvider::open(path_, false);
  ASSERT_TRUE(p);
  ProviderRouter router;
  ASSERT_TRUE(router.add("acme", "dev", **p));
  EXPECT_FALSE(router.add("acme", "dev", **p));
  EXPECT_EQ(text(router.fetch(*SecretUri::parse("secret://acme/dev/a#k"))->value), "v");
  // the file holds it, but no route sends that mount there
  EXPECT_EQ(router.fetch(*SecretUri::parse("secret://acme/other/a#k")).error().code, provider_errc::kNotFound);
  EXPECT_EQ(router.fetch(*SecretUri::parse("secret://globex/dev/a#k")).error().code, provider_errc::kNotFound);
  EXPECT_TRUE(router.healthy());
  std::filesystem::remove(path_);
  EXPECT_EQ(router.fetch(*SecretUri::parse("secret://acme/dev/a#k")).error().code, provider_errc::kUnavailable);
}

TEST_F(FileProviderTest, DeepOrRepeatedJsonAndDeepYamlFailClosed) {
  auto deepJson = [](std::size_t depth) {
    return R"({"secrets": {"secret://acme/dev/a": {"k": )" + std::string(depth, '[') + std::string(depth, ']') + "}}}";
  };
  write(deepJson(29));  // 32 levels in all: the limit
  auto p = FileProvider::open(path_, false);
  ASSERT_TRUE(p) << p.error().describe();
  struct Case {
    std::string text;
    const char* code;
  } cases[] = {
      {deepJson(30), "JSON_TOO_DEEP"},
      {R"({"secrets": {"secret://acme/dev/a": {"k": "one", "k": "two"}}})", "JSON_DUPLICATE_KEY"},
      {R"({"secrets": {"secret://acme/dev/a": {"k": "v"}, "secret://acme/dev/a": {"k": "w"}}})", "JSON_DUPLICATE_KEY"}};
  for (const auto& c : cases) {
    write(c.text);
    auto f = (*p)->fetch(*SecretUri::parse("secret://acme/dev/a#k"));
    ASSERT_FALSE(f) << c.code;
    EXPECT_EQ(f.error().code, provider_errc::kUnavailable);
    EXPECT_NE(f.error().message.find(c.code), std::string::npos) << f.error().message;
    EXPECT_EQ(f.error().message.find("secret://"), std::string::npos) << f.error().message;
  }
  path_ = dir_ + "/secrets.yaml";
  auto deepYaml = [](std::size_t depth) {
    return "secrets:\n  secret://acme/dev/a:\n    k: " + std::string(depth, '[') + std::string(depth, ']') + "\n";
  };
  write(deepYaml(29));
  EXPECT_TRUE(FileProvider::open(path_, false));
  write(deepYaml(30));
  auto deep = FileProvider::open(path_, false);
  ASSERT_FALSE(deep);
  EXPECT_NE(deep.error().message.find("JSON_TOO_DEEP"), std::string::npos) << deep.error().message;
}

TEST(WipeJsonStrings, WalksAnyDepthWithoutRecursion) {
  json root = json::array();
  json* at = &root;
  for (int i = 0; i < 200000; ++i) {
    at->push_back(json::array());
    at = &at->back();
  }
  at->push_back("hunter2");
  const std::string& leaf = at->back().get_ref<const std::string&>();
  wipeJsonStrings(root);
  EXPECT_EQ(leaf, std::string(7, '\0'));
}

}  // namespace
}  // namespace sealgate::providers
