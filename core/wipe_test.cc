#include "core/wipe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>

namespace sealgate {
namespace {

using nlohmann::json;

bool allZero(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '\0'; });
}

TEST(Wipe, StringIsZeroedOverItsWholeCapacity) {
  std::string s = "a secret long enough to live on the heap";
  s.resize(3);  // the bytes past the new end are still in the buffer
  const std::size_t capacity = s.capacity();
  wipeString(s);
  EXPECT_EQ(s.size(), capacity);
  EXPECT_TRUE(allZero(s));
  std::string empty;
  wipeString(empty);
  EXPECT_TRUE(allZero(empty));
}

TEST(Wipe, JsonValuesAreZeroedInPlaceKeysStay) {
  json j = json::parse(R"({"password":"hunter2-hunter2-hunter2","pin":4711,"neg":-5,"f":2.5,"ok":true,
                           "list":["in an array",{"deep":"in an object in an array"}],"none":null})");
  wipeJson(j);
  EXPECT_TRUE(allZero(j["password"].get<std::string>()));
  EXPECT_EQ(j["pin"], 0);
  EXPECT_EQ(j["neg"], 0);
  EXPECT_EQ(j["f"], 0.0);
  EXPECT_EQ(j["ok"], false);
  EXPECT_TRUE(allZero(j["list"][0].get<std::string>()));
  EXPECT_TRUE(allZero(j["list"][1]["deep"].get<std::string>()));
  EXPECT_TRUE(j["none"].is_null());
  EXPECT_TRUE(j.contains("password"));  // the structure stays, only values go
  json scalar = "alone";
  wipeJson(scalar);
  EXPECT_TRUE(allZero(scalar.get<std::string>()));
}

TEST(Wipe, DeepNestingDoesNotRecurse) {
  json root = json::array();
  json* cur = &root;
  for (int i = 0; i < 200000; ++i) {
    cur->push_back(json::array());
    cur = &cur->back();
  }
  cur->push_back("bottom secret value");
  wipeJson(root);  // a recursive walk would overflow the stack here
  EXPECT_TRUE(allZero((*cur)[0].get<std::string>()));
}

// Every way out of a scope wipes: normal end, early return, exception.
int guarded(std::string& s, json& j, int how) {
  WipeOnExit ws(s);
  WipeOnExit wj(j);
  if (how == 1) return 1;
  if (how == 2) throw std::runtime_error("fails");
  return 0;
}

TEST(Wipe, ScopeGuardWipesOnEveryExitPath) {
  for (int how : {0, 1, 2}) {
    std::string s = "a plaintext that must not stay behind";
    json j = {{"data", {{"password", "another plaintext value"}}}};
    try {
      guarded(s, j, how);
    } catch (const std::runtime_error&) {
      EXPECT_EQ(how, 2);
    }
    EXPECT_TRUE(allZero(s)) << how;
    EXPECT_TRUE(allZero(j["data"]["password"].get<std::string>())) << how;
  }
}

}  // namespace
}  // namespace sealgate
