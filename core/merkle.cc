#include "core/merkle.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "core/openssl_ptr.h"

namespace sealgate::merkle {
namespace {

Error proofError(const std::string& what) { return makeError(ErrorCode::ProofInvalid, what); }

// The largest power of two strictly below n (n >= 2).
std::uint64_t splitPoint(std::uint64_t n) {
  std::uint64_t k = 1;
  while ((k << 1) < n) k <<= 1;
  return k;
}

Hash rootRange(std::span<const Hash> leaves) {
  if (leaves.empty()) return emptyRoot();
  if (leaves.size() == 1) return leaves[0];
  const std::uint64_t k = splitPoint(leaves.size());
  return nodeHash(rootRange(leaves.subspan(0, k)), rootRange(leaves.subspan(k)));
}

void path(std::span<const Hash> d, std::uint64_t m, std::vector<Hash>& out) {
  if (d.size() <= 1) return;
  const std::uint64_t k = splitPoint(d.size());
  if (m < k) {
    path(d.subspan(0, k), m, out);
    out.push_back(rootRange(d.subspan(k)));
  } else {
    path(d.subspan(k), m - k, out);
    out.push_back(rootRange(d.subspan(0, k)));
  }
}

void subproof(std::uint64_t m, std::span<const Hash> d, bool b, std::vector<Hash>& out) {
  const std::uint64_t n = d.size();
  if (m == n) {
    if (!b) out.push_back(rootRange(d));
    return;
  }
  const std::uint64_t k = splitPoint(n);
  if (m <= k) {
    subproof(m, d.subspan(0, k), b, out);
    out.push_back(rootRange(d.subspan(k)));
  } else {
    subproof(m - k, d.subspan(k), false, out);
    out.push_back(rootRange(d.subspan(0, k)));
  }
}

}  // namespace

Hash emptyRoot() {
  Hash h{};
  SHA256(nullptr, 0, h.data());
  return h;
}

Hash leafHash(std::span<const std::uint8_t> entry) {
  Hash h{};
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  const std::uint8_t prefix = 0x00;
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx.get(), &prefix, 1);
  EVP_DigestUpdate(ctx.get(), entry.data(), entry.size());
  EVP_DigestFinal_ex(ctx.get(), h.data(), nullptr);
  return h;
}

Hash leafHash(std::string_view entry) {
  return leafHash(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(entry.data()), entry.size()));
}

Hash nodeHash(const Hash& left, const Hash& right) {
  std::uint8_t buf[65];
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 33);
  Hash h{};
  SHA256(buf, sizeof buf, h.data());
  return h;
}

Hash rootOf(std::span<const Hash> leaves) { return rootRange(leaves); }

Result<std::vector<Hash>> inclusionProof(std::span<const Hash> leaves, std::uint64_t index, std::uint64_t treeSize) {
  if (treeSize > leaves.size() || index >= treeSize) {
    return makeError(ErrorCode::MerkleRange,
                     "leaf " + std::to_string(index) + " is not in a tree of size " + std::to_string(treeSize));
  }
  std::vector<Hash> out;
  path(leaves.subspan(0, treeSize), index, out);
  return out;
}

Result<std::vector<Hash>> consistencyProof(std::span<const Hash> leaves, std::uint64_t first, std::uint64_t second) {
  if (second > leaves.size() || first > second) {
    return makeError(ErrorCode::MerkleRange,
                     "no consistency proof from " + std::to_string(first) + " to " + std::to_string(second));
  }
  std::vector<Hash> out;
  if (first == 0 || first == second) return out;
  subproof(first, leaves.subspan(0, second), true, out);
  return out;
}

Result<void> verifyInclusion(std::uint64_t index, std::uint64_t treeSize, const Hash& leaf, std::span<const Hash> proof,
                             const Hash& root) {
  if (index >= treeSize) return proofError("the leaf index is not below the tree size");
  std::uint64_t fn = index, sn = treeSize - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return proofError("the inclusion proof is too long for this tree");
    if ((fn & 1) || fn == sn) {
      r = nodeHash(p, r);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return proofError("the inclusion proof is too short for this tree");
  if (r != root) return proofError("the inclusion proof leads to another root");
  return Ok{};
}

Result<void> verifyConsistency(std::uint64_t first, std::uint64_t second, const Hash& firstRoot, const Hash& secondRoot,
                               std::span<const Hash> proof) {
  if (first > second) return proofError("the first tree is larger than the second");
  if (first == second) {
    if (!proof.empty()) return proofError("a proof between equal sizes must be empty");
    if (firstRoot != secondRoot) return proofError("equal sizes with different roots");
    return Ok{};
  }
  if (first == 0) {
    if (!proof.empty()) return proofError("a proof from the empty tree must be empty");
    return Ok{};
  }
  if (proof.empty()) return proofError("the consistency proof is empty");
  std::vector<Hash> path;
  const bool powerOfTwo = (first & (first - 1)) == 0;
  if (powerOfTwo) path.push_back(firstRoot);
  path.insert(path.end(), proof.begin(), proof.end());
  std::uint64_t fn = first - 1, sn = second - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0], sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return proofError("the consistency proof is too long");
    if ((fn & 1) || fn == sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return proofError("the consistency proof is too short");
  if (fr != firstRoot) return proofError("the consistency proof does not lead to the first root");
  if (sr != secondRoot) return proofError("the consistency proof does not lead to the second root");
  return Ok{};
}

void Tree::append(const Hash& leaf) {
  leaves_.push_back(leaf);
  peaks_.emplace_back(1, leaf);
  while (peaks_.size() >= 2 && peaks_[peaks_.size() - 2].first == peaks_.back().first) {
    auto right = peaks_.back();
    peaks_.pop_back();
    peaks_.back() = {right.first * 2, nodeHash(peaks_.back().second, right.second)};
  }
}

Hash Tree::root() const {
  if (peaks_.empty()) return emptyRoot();
  Hash r = peaks_.back().second;
  for (std::size_t i = peaks_.size() - 1; i-- > 0;) r = nodeHash(peaks_[i].second, r);
  return r;
}

}  // namespace sealgate::merkle
