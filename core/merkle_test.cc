#include "core/merkle.h"

#include <gtest/gtest.h>

#include "core/encoding.h"

namespace sealgate::merkle {
namespace {

// The RFC 6962 test leaves used by certificate-transparency and trillian.
std::vector<Hash> ctLeaves() {
  const std::vector<std::string> hex = {
      "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"};
  std::vector<Hash> out;
  for (const auto& h : hex) {
    auto raw = decodeHex(h);
    out.push_back(leafHash(std::span<const std::uint8_t>(*raw)));
  }
  return out;
}

TEST(Merkle, RootsMatchTheCertificateTransparencyVectors) {
  const std::vector<std::string> roots = {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                                          "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                                          "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
                                          "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                                          "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
                                          "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
                                          "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
                                          "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
  auto leaves = ctLeaves();
  Tree tree;
  EXPECT_EQ(hexLower(rootOf({})), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  for (std::size_t n = 1; n <= leaves.size(); ++n) {
    tree.append(leaves[n - 1]);
    EXPECT_EQ(hexLower(rootOf(std::span(leaves).subspan(0, n))), roots[n - 1]) << n;
    EXPECT_EQ(hexLower(tree.root()), roots[n - 1]) << n;
  }
}

std::vector<Hash> syntheticLeaves(std::size_t n) {
  std::vector<Hash> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(leafHash("entry " + std::to_string(i)));
  return out;
}

TEST(Merkle, EveryInclusionProofVerifiesAndAnyChangeFails) {
  auto leaves = syntheticLeaves(33);
  for (std::uint64_t size = 1; size <= leaves.size(); ++size) {
    const Hash root = rootOf(std::span(leaves).subspan(0, size));
    for (std::uint64_t i = 0; i < size; ++i) {
      auto proof = inclusionProof(leaves, i, size);
      ASSERT_TRUE(proof.ok());
      EXPECT_TRUE(verifyInclusion(i, size, leaves[i], *proof, root).ok()) << i << "/" << size;
      // Another leaf, another index, another size, a flipped proof byte: all fail.
      EXPECT_FALSE(verifyInclusion(i, size, leafHash("other"), *proof, root).ok());
      if (size > 1) {
        EXPECT_FALSE(verifyInclusion((i + 1) % size, size, leaves[i], *proof, root).ok());
      }
      // The size only shapes the path, the root decides: not in the next tree.
      if (size < leaves.size()) {
        EXPECT_FALSE(
            verifyInclusion(i, size + 1, leaves[i], *proof, rootOf(std::span(leaves).subspan(0, size + 1))).ok());
      }
      for (std::size_t k = 0; k < proof->size(); ++k) {
        auto bad = *proof;
        bad[k][5] ^= 0x40;
        EXPECT_FALSE(verifyInclusion(i, size, leaves[i], bad, root).ok());
      }
      auto longer = *proof;
      longer.push_back(root);
      EXPECT_FALSE(verifyInclusion(i, size, leaves[i], longer, root).ok());
      if (!proof->empty()) {
        auto shorter = *proof;
        shorter.pop_back();
        EXPECT_FALSE(verifyInclusion(i, size, leaves[i], shorter, root).ok());
      }
    }
  }
  EXPECT_EQ(inclusionProof(leaves, 5, 5).error().code, ErrorCode::MerkleRange);
  EXPECT_EQ(inclusionProof(leaves, 0, 34).error().code, ErrorCode::MerkleRange);
  EXPECT_FALSE(verifyInclusion(3, 3, leaves[0], {}, leaves[0]).ok());
}

TEST(Merkle, EveryConsistencyProofVerifiesAndAnyChangeFails) {
  auto leaves = syntheticLeaves(33);
  for (std::uint64_t second = 1; second <= leaves.size(); ++second) {
    const Hash r2 = rootOf(std::span(leaves).subspan(0, second));
    for (std::uint64_t first = 1; first <= second; ++first) {
      const Hash r1 = rootOf(std::span(leaves).subspan(0, first));
      auto proof = consistencyProof(leaves, first, second);
      ASSERT_TRUE(proof.ok());
      EXPECT_TRUE(verifyConsistency(first, second, r1, r2, *proof).ok()) << first << "->" << second;
      if (first == second) {
        EXPECT_FALSE(verifyConsistency(first, second, r1, leafHash("x"), *proof).ok());
        continue;
      }
      EXPECT_FALSE(verifyConsistency(first, second, leafHash("x"), r2, *proof).ok());
      EXPECT_FALSE(verifyConsistency(first, second, r1, leafHash("x"), *proof).ok());
      if (second < leaves.size()) {
        EXPECT_FALSE(
            verifyConsistency(first, second + 1, r1, rootOf(std::span(leaves).subspan(0, second + 1)), *proof).ok());
      }
      for (std::size_t k = 0; k < proof->size(); ++k) {
        auto bad = *proof;
        bad[k][0] ^= 1;
        EXPECT_FALSE(verifyConsistency(first, second, r1, r2, bad).ok());
      }
      auto longer = *proof;
      longer.push_back(r1);
      EXPECT_FALSE(verifyConsistency(first, second, r1, r2, longer).ok());
      EXPECT_FALSE(verifyConsistency(first, second, r1, r2, {}).ok());
    }
  }
  // A proof for another tree of the same sizes does not verify.
  auto other = syntheticLeaves(40);
  other[2] = leafHash("rewritten");
  auto proof = consistencyProof(other, 5, 9);
  EXPECT_FALSE(
      verifyConsistency(5, 9, rootOf(std::span(leaves).subspan(0, 5)), rootOf(std::span(leaves).subspan(0, 9)), *proof)
          .ok());
  EXPECT_EQ(consistencyProof(leaves, 9, 5).error().code, ErrorCode::MerkleRange);
  EXPECT_FALSE(verifyConsistency(9, 5, leaves[0], leaves[0], {}).ok());
}

TEST(Merkle, LeafAndNodeHashesAreDomainSeparated) {
  // SHA-256(0x00 || "") is the CT vector; a 64-byte leaf never equals the node of its halves.
  EXPECT_EQ(hexLower(leafHash("")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  Hash a = leafHash("a"), b = leafHash("b");
  std::string concat(reinterpret_cast<const char*>(a.data()), 32);
  concat.append(reinterpret_cast<const char*>(b.data()), 32);
  EXPECT_NE(leafHash(concat), nodeHash(a, b));
}

}  // namespace
}  // namespace sealgate::merkle
