#include "core/aho_corasick.h"

#include <limits>

namespace sealgate {
namespace {
constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
}

AhoCorasick::AhoCorasick(const std::vector<const WipedBytes*>& patterns) {
  std::array<bool, 256> used{};
  for (const WipedBytes* p : patterns) {
    for (std::uint8_t b : *p) used[b] = true;
  }
  for (std::size_t b = 0; b < used.size(); ++b) {
    if (used[b]) classOf_[b] = static_cast<std::uint16_t>(classes_++);
  }

  // The trie, in rows of the final table: kNone where no child exists yet.
  auto newState = [this](std::uint32_t depth) {
    next_.insert(next_.end(), classes_, kNone);
    depth_.push_back(depth);
    longest_.push_back(0);
    return static_cast<std::uint32_t>(depth_.size() - 1);
  };
  newState(0);
  for (const WipedBytes* p : patterns) {
    if (p->empty()) continue;
    std::uint32_t state = 0;
    for (std::uint8_t b : *p) {
      const std::size_t slot = std::size_t{state} * classes_ + classOf_[b];
      if (next_[slot] == kNone) {
        const std::uint32_t child = newState(depth_[state] + 1);
        next_[slot] = child;  // newState may have moved next_: index again
      }
      state = next_[slot];
    }
    longest_[state] = static_cast<std::uint32_t>(p->size());
  }

  // Failure links in breadth-first order turn the trie into a DFA: a missing
  // transition of a state is its failure state's transition, which is already
  // complete because that state is shallower.
  WipedVector<std::uint32_t> fail(depth_.size(), 0);
  WipedVector<std::uint32_t> queue;
  queue.reserve(depth_.size());
  for (std::size_t c = 0; c < classes_; ++c) {
    if (next_[c] == kNone) {
      next_[c] = 0;
    } else {
      queue.push_back(next_[c]);
    }
  }
  for (std::size_t head = 0; head < queue.size(); ++head) {
    const std::uint32_t state = queue[head];
    const std::size_t row = std::size_t{state} * classes_;
    const std::size_t failRow = std::size_t{fail[state]} * classes_;
    for (std::size_t c = 0; c < classes_; ++c) {
      const std::uint32_t child = next_[row + c];
      if (child == kNone) {
        next_[row + c] = next_[failRow + c];
        continue;
      }
      fail[child] = next_[failRow + c];
      if (longest_[child] == 0) longest_[child] = longest_[fail[child]];
      queue.push_back(child);
    }
  }
  for (auto& entry : next_) entry = (entry << 1) | (longest_[entry] != 0 ? 1u : 0u);
}

AhoCorasick::~AhoCorasick() { secureWipe(classOf_.data(), sizeof classOf_); }

std::optional<AhoCorasick::Match> AhoCorasick::findLeftmostLongest(std::string_view text, std::size_t from) const {
  std::uint32_t entry = 0;
  std::size_t i = from;
  const std::size_t n = text.size();
  // Until a first match: one table lookup per byte.
  for (; i < n; ++i) {
    entry = step(entry, static_cast<unsigned char>(text[i]));
    if (entry & 1) break;
  }
  if (i >= n) return std::nullopt;
  // A candidate is committed once no later match can start at or before it: every
  // later match starts inside the current state's path, i.e. at >= end - depth.
  Match best{i + 1 - longest_[entry >> 1], i + 1};
  for (++i; i < n; ++i) {
    entry = step(entry, static_cast<unsigned char>(text[i]));
    const std::uint32_t state = entry >> 1;
    if (entry & 1) {
      const std::size_t begin = i + 1 - longest_[state];
      if (begin <= best.begin) best = Match{begin, i + 1};
    }
    if (best.begin + depth_[state] < i + 1) return best;
  }
  return best;
}

bool AhoCorasick::containsAny(std::string_view text) const {
  std::uint32_t entry = 0;
  for (char c : text) {
    entry = step(entry, static_cast<unsigned char>(c));
    if (entry & 1) return true;
  }
  return false;
}

}  // namespace sealgate
