// RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs.
//
// Written here rather than taken from a library: Debian ships no C or C++
// implementation of RFC 9162 proofs (trillian and transparency-dev are Go). The
// algorithms follow RFC 9162 §2.1 step by step; SHA-256 comes from OpenSSL.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace sealgate::merkle {

using Hash = std::array<std::uint8_t, 32>;

// A tree head: the size of a log and the root over its first `size` leaves.
struct TreeHead {
  std::uint64_t size = 0;
  Hash root{};
  bool operator==(const TreeHead&) const = default;
};

// SHA-256 of the empty string: the root of an empty tree.
Hash emptyRoot();
// SHA-256(0x00 || entry).
Hash leafHash(std::span<const std::uint8_t> entry);
Hash leafHash(std::string_view entry);
// SHA-256(0x01 || left || right).
Hash nodeHash(const Hash& left, const Hash& right);

// MTH(D[n]) over leaf hashes (RFC 9162 §2.1.1).
Hash rootOf(std::span<const Hash> leaves);

// PATH(m, D[n]) and PROOF(m, D[n]) (§2.1.3.1, §2.1.4.1) over the first
// `treeSize` leaves. Errors: MERKLE_RANGE when an index or size is out of range.
Result<std::vector<Hash>> inclusionProof(std::span<const Hash> leaves, std::uint64_t index, std::uint64_t treeSize);
Result<std::vector<Hash>> consistencyProof(std::span<const Hash> leaves, std::uint64_t first, std::uint64_t second);

// §2.1.3.2 and §2.1.4.2. Errors: PROOF_INVALID (with what did not match).
Result<void> verifyInclusion(std::uint64_t index, std::uint64_t treeSize, const Hash& leaf, std::span<const Hash> proof,
                             const Hash& root);
Result<void> verifyConsistency(std::uint64_t first, std::uint64_t second, const Hash& firstRoot, const Hash& secondRoot,
                               std::span<const Hash> proof);

// An append-only tree that keeps every leaf hash plus the roots of its perfect
// subtrees (a "compact range"), so root() is O(log n) after each append.
class Tree {
 public:
  void append(const Hash& leaf);
  std::uint64_t size() const { return leaves_.size(); }
  Hash root() const;
  const std::vector<Hash>& leaves() const { return leaves_; }

 private:
  std::vector<Hash> leaves_;
  std::vector<std::pair<std::uint64_t, Hash>> peaks_;  // (subtree size, root), left to right
};

}  // namespace sealgate::merkle
