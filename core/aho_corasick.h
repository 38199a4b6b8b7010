// Multi-pattern byte matcher (Aho-Corasick) for the egress guard.
//
// Written here because Debian 12 packages no C or C++ Aho-Corasick library
// (apt-cache search aho / corasick: only Python and Rust ones); Hyperscan
// (libhyperscan-dev) is a regex engine that reports match ends only, is amd64
// only, and keeps its compiled databases in memory we could not wipe per pattern.
//
// A dense DFA over byte classes: bytes that occur in no pattern share one class,
// so a row has (distinct pattern bytes + 1) entries. Every table lives in
// wiped-on-free memory because together they spell out the patterns. Immutable
// after construction, so any number of threads may search one automaton.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "core/zeroizing_allocator.h"

namespace sealgate {

class AhoCorasick {
 public:
  struct Match {
    std::size_t begin;
    std::size_t end;  // one past the last byte
  };

  // Empty patterns are ignored.
  explicit AhoCorasick(const std::vector<const WipedBytes*>& patterns);
  ~AhoCorasick();
  AhoCorasick(const AhoCorasick&) = delete;
  AhoCorasick& operator=(const AhoCorasick&) = delete;

  // The leftmost match starting at or after `from` and, among those starting
  // there, the longest. Repeating from each match's end gives leftmost-longest
  // non-overlapping matching.
  std::optional<Match> findLeftmostLongest(std::string_view text, std::size_t from = 0) const;
  // True when any pattern occurs in `text` (stops at the first).
  bool containsAny(std::string_view text) const;

  std::size_t stateCount() const { return depth_.size(); }
  std::size_t classCount() const { return classes_; }

 private:
  // A transition is the next state's row offset (state x stride_), plus 1 when
  // that state ends a pattern; such a state's row is stored one slot further on,
  // so a step is one add and one load, and "a match ends here" is the low bit.
  std::uint32_t step(std::uint32_t entry, unsigned char byte) const { return next_[entry + classOf_[byte]]; }
  static bool endsPattern(std::uint32_t entry) { return (entry & 1) != 0; }
  std::size_t stateOf(std::uint32_t entry) const { return entry / stride_; }
  void encodeTransitions();

  std::array<std::uint16_t, 256> classOf_{};
  std::size_t classes_ = 1;
  std::size_t stride_ = 2;              // classes + 1 spare slot, even
  WipedVector<std::uint32_t> next_;     // states x stride_
  WipedVector<std::uint32_t> depth_;    // length of the state's trie path
  WipedVector<std::uint32_t> longest_;  // longest pattern that ends the state's path, 0 = none
};

}  // namespace sealgate
