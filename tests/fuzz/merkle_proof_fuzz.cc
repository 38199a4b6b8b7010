// libFuzzer target for RFC 9162 proof verification (core/merkle.cc). The input
// picks a tree (size, leaf contents), an index or a pair of sizes, and a
// mutation of the proof. Honest proofs must verify; a proof with any changed
// byte, or for another size or root, must not (barring SHA-256 collisions).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/merkle.h"

namespace {
void check(bool cond) {
  if (!cond) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sealgate::merkle;
  if (size < 4) return 0;
  const std::uint64_t n = 1 + data[0] % 70;
  const std::uint64_t a = data[1] % n, b = 1 + data[2] % n;
  const std::uint8_t flip = data[3];
  std::vector<Hash> leaves;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string entry = std::to_string(i);
    if (i + 4 < size) entry.push_back(static_cast<char>(data[4 + i]));
    leaves.push_back(leafHash(entry));
  }
  const Hash root = rootOf(leaves);
  auto incl = inclusionProof(leaves, a, n);
  check(incl.ok());
  check(verifyInclusion(a, n, leaves[a], *incl, root).ok());
  if (!incl->empty()) {
    auto bad = *incl;
    bad[flip % bad.size()][flip % 32] ^= static_cast<std::uint8_t>(1 + (flip >> 5));
    check(!verifyInclusion(a, n, leaves[a], bad, root).ok());
  }
  // Arbitrary proofs made of input bytes: never a crash.
  std::vector<Hash> junk;
  for (std::size_t off = 4; off + 32 <= size && junk.size() < 80; off += 32) {
    Hash h{};
    for (int k = 0; k < 32; ++k) h[k] = data[off + k];
    junk.push_back(h);
  }
  (void)verifyInclusion(a, n, leaves[a], junk, root);
  const std::uint64_t first = std::min<std::uint64_t>(a + 1, b), second = std::max<std::uint64_t>(a + 1, b);
  auto cons = consistencyProof(leaves, first, second);
  check(cons.ok());
  const Hash r1 = rootOf(std::span(leaves).subspan(0, first)), r2 = rootOf(std::span(leaves).subspan(0, second));
  check(verifyConsistency(first, second, r1, r2, *cons).ok());
  if (!cons->empty()) {
    auto bad = *cons;
    bad[flip % bad.size()][flip % 32] ^= static_cast<std::uint8_t>(1 + (flip >> 5));
    check(!verifyConsistency(first, second, r1, r2, bad).ok());
  }
  (void)verifyConsistency(first, second, r1, r2, junk);
  (void)verifyConsistency(data[1], data[2], r1, r2, junk);
  return 0;
}
