#include "core/slot_values.h"

#include <gtest/gtest.h>

#include "core/egress_guard.h"
#include "core/interfaces/connector.h"
#include "core/json_parse.h"

namespace sealgate {
namespace {

std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

Secret secretOf(std::string_view s) { return std::move(*Secret::copyFrom(s)); }

std::vector<std::string> texts(const std::vector<Secret>& leaves) {
  std::vector<std::string> out;
  for (const auto& l : leaves) {
    const auto b = l.exposeSecretBytes();
    out.emplace_back(b.begin(), b.end());
  }
  return out;
}

TEST(SlotValueShape, UsableValues) {
  for (std::string_view v : {"hunter22", "ExecCanaryPg&Pw=7/+x", "Tr0ub4dor&3", "correct horse battery staple",
                             "v-reader-8f3a9c0d", "ab12cd34"}) {
    EXPECT_EQ(slotValueShapeProblem(bytes(v)), std::nullopt) << v;
  }
  EXPECT_EQ(
      slotValueShapeProblem(bytes(std::string(kMaxSlotValueBytes / 2, 'a') + std::string(kMaxSlotValueBytes / 2, 'b'))),
      std::nullopt);  // 8192 bytes, 8192 bits: at the cap, allowed
}

TEST(SlotValueShape, TooShortOrTooLarge) {
  // Issue 12: "allow" (5 bytes) was accepted; the floor was 4 bytes.
  for (std::string_view v : {"", "a", "abc", "allow", "p4ssw0r"}) {
    ASSERT_TRUE(slotValueShapeProblem(bytes(v))) << v;
    EXPECT_TRUE(slotValueShapeProblem(bytes(v))->starts_with("holds fewer than 8 bytes")) << v;
  }
  std::string big;
  for (std::size_t i = 0; big.size() <= kMaxSlotValueBytes; ++i) big += std::to_string(i * 7919);
  ASSERT_TRUE(slotValueShapeProblem(bytes(big)));
  EXPECT_TRUE(slotValueShapeProblem(bytes(big))->starts_with("holds more than 8192 bytes"));
}

TEST(SlotValueShape, LowEntropyAndRunsAreRefused) {
  for (std::string_view v : {"aaaaaaaa", "abababab", "12345678", "hgfedcba", "00000000000000000000", "aabbccdd",
                             "abcabcabcabc", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "acegikmoqsuw"}) {
    EXPECT_TRUE(slotValueShapeProblem(bytes(v))) << v;
  }
  EXPECT_DOUBLE_EQ(byteHistogramEntropyBits(bytes("aaaaaaaa")), 0.0);
  EXPECT_DOUBLE_EQ(byteHistogramEntropyBits(bytes("abababab")), 8.0);
  EXPECT_DOUBLE_EQ(byteHistogramEntropyBits(bytes("abcdefgh")), 24.0);
}

TEST(SlotValueShape, NeverQuotesTheValue) {
  for (std::string_view v : {"abc", "aaaaaaaaaaaaaaaa", "12345678"}) {
    auto problem = slotValueShapeProblem(bytes(v));
    ASSERT_TRUE(problem);
    EXPECT_EQ(problem->find(v), std::string::npos);
  }
}

TEST(JsonLeafValues, EveryStringAndNumberLeafInKeyOrder) {
  // Issue 12 (item 5): a slot without #field holds the whole document; only the
  // serialised document was live, so a peer reflecting one field leaked it.
  auto leaves = jsonLeafValues(secretOf(
      R"({"username":"app-user-1","password":"pa55-w0rd!x","nested":{"list":["token-abc-123",31415926,true,null,""]},"n":2.5})"));
  ASSERT_TRUE(leaves.ok()) << leaves.error().describe();
  ASSERT_TRUE(*leaves);
  EXPECT_EQ(texts(**leaves),
            (std::vector<std::string>{"2.5", "token-abc-123", "31415926", "pa55-w0rd!x", "app-user-1"}));
}

TEST(JsonLeafValues, NotADocument) {
  for (std::string_view v : {"plain-password", "31415926", "\"quoted-string\"", "{not json", "[1,2", "true"}) {
    auto leaves = jsonLeafValues(secretOf(v));
    ASSERT_TRUE(leaves.ok()) << v;
    EXPECT_FALSE(*leaves) << v;
  }
  auto empty = jsonLeafValues(secretOf("  {}"));
  ASSERT_TRUE(empty.ok());
  ASSERT_TRUE(*empty);
  EXPECT_TRUE((*empty)->empty());
}

TEST(JsonLeafValues, DocumentsUpToTheParserCapAreWalkedDeeperOrRepeatedKeysAreUnusable) {
  const std::string atCap = std::string(kMaxJsonDepth, '[') + "\"deep-leaf-value\"" + std::string(kMaxJsonDepth, ']');
  auto leaves = jsonLeafValues(secretOf(atCap));
  ASSERT_TRUE(leaves.ok());
  ASSERT_TRUE(*leaves);
  EXPECT_EQ(texts(**leaves), std::vector<std::string>{"deep-leaf-value"});
  // Its leaves cannot all be registered safely, so such a value is never used.
  for (const std::string& v :
       {std::string(100000, '[') + "\"deep-leaf-value\"" + std::string(100000, ']'), std::string(10000, '['),
        std::string(R"({"password":"a-b-c-d-1","password":"e-f-g-h-2"})")}) {
    auto refused = jsonLeafValues(secretOf(v));
    ASSERT_FALSE(refused.ok()) << v.substr(0, 40);
    EXPECT_EQ(refused.error().code, connector_errc::kSecretUnusable);
  }
}

TEST(JsonLeafValues, TooManyLeavesIsUnusable) {
  nlohmann::json doc = nlohmann::json::array();
  for (std::size_t i = 0; i <= kMaxSlotValueLeaves; ++i) doc.push_back("leaf-" + std::to_string(i));
  auto leaves = jsonLeafValues(secretOf(doc.dump()));
  ASSERT_FALSE(leaves.ok());
  EXPECT_EQ(leaves.error().code, connector_errc::kSecretUnusable);
}

TEST(ProtocolVocabulary, HoldsTheWordsSealgateWritesAsJsonStrings) {
  const std::string_view v = protocolVocabulary();
  for (std::string_view w : {"\"allow\"", "\"remaining_uses\"", "\"[REDACTED]\"", "\"true\"", "\"correlation_id\"",
                             "\"postgres\"", "\"X-Sealgate-Error\"", "\"breakglass\""}) {
    EXPECT_NE(v.find(w), std::string_view::npos) << w;
  }
  // What execute does with it: a guard holding the value, run over the words.
  EgressGuard guard;
  auto common = guard.protect(secretOf("resource_ref"));
  EXPECT_TRUE(guard.carries(v));
  common.release();
  auto spanning = guard.protect(secretOf("allow\",\"deny"));
  EXPECT_TRUE(guard.carries(v));
  spanning.release();
  auto random = guard.protect(secretOf("q8Zr-2mXv_Lp0wT"));
  EXPECT_FALSE(guard.carries(v));
}

}  // namespace
}  // namespace sealgate
