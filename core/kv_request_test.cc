#include "core/kv_request.h"

#include <gtest/gtest.h>

namespace sealgate::kv {
namespace {

using nlohmann::json;
using std::chrono::seconds;

TEST(KvTarget, ParsesMountOpAndPath) {
  auto t = parseTarget("kv/data/app/db");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->mount, "kv");
  EXPECT_EQ(t->op, "data");
  EXPECT_EQ(t->path, "app/db");
  EXPECT_EQ(parseTarget("kv/config")->op, "config");
  EXPECT_EQ(parseTarget("kv/metadata/")->path, "");
  EXPECT_EQ(parseTarget("kv/metadata/app/")->path, "app/");
  EXPECT_EQ(parseTarget("kv/metadata")->path, "");
}

TEST(KvTarget, RejectsBadPaths) {
  for (const char* bad :
       {"KV/data/a", "-kv/data/a", "kv/data/", "kv/data", "kv/data/a//b", "kv/data/a/../b", "kv/data/a/./b",
        "kv/data/a%2Fb", "kv/data/a b", "kv/metadata/a//", "kv/destroy/", "kv/data/a/"}) {
    auto t = parseTarget(bad);
    EXPECT_FALSE(t) << bad;
    if (!t) {
      EXPECT_EQ(t.error().code, kInvalid) << bad;
    }
  }
  // No such endpoint at all: not a bad argument but an unknown route.
  for (const char* none : {"", "kv", "kv/", "kv/secrets/a", "kv/config/x"}) {
    auto t = parseTarget(none);
    EXPECT_FALSE(t) << none;
    if (!t) {
      EXPECT_EQ(t.error().code, ErrorCode::NotFound) << none;
    }
  }
}

TEST(KvDataWrite, TakesDataAndCas) {
  auto w = parseDataWrite(json::parse(R"({"data":{"a":"b"},"options":{"cas":3}})"));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->data, json({{"a", "b"}}));
  EXPECT_EQ(*w->cas, 3u);
  EXPECT_FALSE(parseDataWrite(json::parse(R"({"data":{}})"))->cas);
  EXPECT_FALSE(parseDataWrite(json::parse(R"({"data":{},"options":null})"))->cas);
}

TEST(KvDataWrite, RejectsMalformedBodies) {
  EXPECT_EQ(parseDataWrite(json::parse(R"({})")).error().code, kInvalid);
  EXPECT_EQ(parseDataWrite(json::parse(R"({"data":"x"})")).error().code, kInvalid);
  EXPECT_EQ(parseDataWrite(json::parse(R"({"data":{},"extra":1})")).error().code, ErrorCode::UnknownField);
  EXPECT_EQ(parseDataWrite(json::parse(R"({"data":{},"options":{"cas":-1}})")).error().code, kInvalid);
  EXPECT_EQ(parseDataWrite(json::parse(R"({"data":{},"options":{"cas":"1"}})")).error().code, kInvalid);
  EXPECT_EQ(parseDataWrite(json::parse(R"({"data":{},"options":{"cas":4294967296}})")).error().code, kInvalid);
  EXPECT_EQ(parseDataWrite(json::parse(R"({"data":{},"options":{"ttl":1}})")).error().code, ErrorCode::UnknownField);
  EXPECT_EQ(parseDataWrite(json::parse(R"([1])")).error().code, kInvalid);
}

TEST(KvVersions, ParsesLists) {
  EXPECT_EQ(*parseVersions(json::parse(R"({"versions":[1,3]})"), true), (std::vector<std::uint32_t>{1, 3}));
  EXPECT_TRUE(parseVersions(json::object(), false)->empty());
  EXPECT_FALSE(parseVersions(json::object(), true));
  EXPECT_FALSE(parseVersions(json::parse(R"({"versions":[]})"), true));
  EXPECT_FALSE(parseVersions(json::parse(R"({"versions":[0]})"), true));
  EXPECT_FALSE(parseVersions(json::parse(R"({"versions":["1"]})"), true));
  EXPECT_FALSE(parseVersions(json::parse(R"({"versions":1})"), true));
  EXPECT_EQ(parseVersions(json::parse(R"({"versions":[1],"x":1})"), true).error().code, ErrorCode::UnknownField);
  json many = {{"versions", json::array()}};
  for (int i = 1; i <= 1001; ++i) many["versions"].push_back(i);
  EXPECT_FALSE(parseVersions(many, true));
}

TEST(KvSettings, MetadataAndConfig) {
  auto m = parseMetadataWrite(
      json::parse(R"({"max_versions":5,"cas_required":true,"delete_version_after":"1h","custom_metadata":{"a":"b"}})"),
      false);
  ASSERT_TRUE(m);
  EXPECT_EQ(*m->maxVersions, 5u);
  EXPECT_TRUE(*m->casRequired);
  EXPECT_EQ(*m->deleteVersionAfter, seconds(3600));
  EXPECT_EQ(*m->customMetadata, json({{"a", "b"}}));
  EXPECT_TRUE(parseMetadataWrite(json::parse(R"({"custom_metadata":{"a":null}})"), true));
  EXPECT_FALSE(parseMetadataWrite(json::parse(R"({"custom_metadata":{"a":null}})"), false));
  EXPECT_FALSE(parseMetadataWrite(json::parse(R"({"custom_metadata":{"a":1}})"), false));
  EXPECT_FALSE(parseMetadataWrite(json::parse(R"({"custom_metadata":[]})"), false));
  EXPECT_FALSE(parseMetadataWrite(json::parse(R"({"cas_required":"yes"})"), false));
  EXPECT_FALSE(parseMetadataWrite(json::parse(R"({"max_versions":-2})"), false));
  EXPECT_FALSE(parseMetadataWrite(json::parse(R"({"delete_version_after":"soon"})"), false));
  EXPECT_EQ(parseConfigWrite(json::parse(R"({"custom_metadata":{}})")).error().code, ErrorCode::UnknownField);
  EXPECT_EQ(*parseConfigWrite(json::parse(R"({"max_versions":0})"))->maxVersions, 0u);
}

TEST(KvQuery, VersionAndList) {
  EXPECT_EQ(*parseVersionQuery(""), 0u);
  EXPECT_EQ(*parseVersionQuery("version=7"), 7u);
  EXPECT_EQ(*parseVersionQuery("a=b&version=2"), 2u);
  for (const char* bad : {"version=", "version=-1", "version=x", "version=4294967296", "version=1e3"}) {
    EXPECT_FALSE(parseVersionQuery(bad)) << bad;
  }
  EXPECT_TRUE(listQuery("list=true"));
  EXPECT_TRUE(listQuery("x=1&list=1"));
  EXPECT_FALSE(listQuery("list=false"));
  EXPECT_FALSE(listQuery(""));
}

TEST(GoDuration, FormatsAndParsesAsVaultDoes) {
  EXPECT_EQ(formatGoDuration(seconds(0)), "0s");
  EXPECT_EQ(formatGoDuration(seconds(59)), "59s");
  EXPECT_EQ(formatGoDuration(seconds(3600)), "1h0m0s");
  EXPECT_EQ(formatGoDuration(seconds(3 * 3600 + 25 * 60 + 19)), "3h25m19s");
  EXPECT_EQ(*parseGoDuration("3h25m19s"), seconds(12319));
  EXPECT_EQ(*parseGoDuration("90"), seconds(90));
  EXPECT_EQ(*parseGoDuration(json(30)), seconds(30));
  for (const char* bad : {"", "h", "3x", "-1s", "1.5s", "99999999999h", "1h2", "9999999999999"}) {
    EXPECT_FALSE(parseGoDuration(bad)) << bad;
  }
  EXPECT_FALSE(parseGoDuration(json(-1)));
  EXPECT_FALSE(parseGoDuration(json::array()));
}

}  // namespace
}  // namespace sealgate::kv
