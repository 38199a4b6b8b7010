#include "core/aho_corasick.h"

#include <algorithm>
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
  stride_ = (classes_ + 2) & ~std::size_t{1};

  // The trie, in rows of the final table: kNone where no child exists yet.
  auto newState = [this](std::uint32_t depth) {
    if ((depth_.size() + 1) * stride_ > std::numeric_limits<std::uint32_t>::max()) {
      throw std::length_error("egress automaton too large");
    }
    next_.insert(next_.end(), stride_, kNone);
    depth_.push_back(depth);
    longest_.push_back(0);
    return static_cast<std::uint32_t>(depth_.size() - 1);
  };
  // Reserve the exact trie size (patterns in order share a prefix with the one
  // before): no reallocation copies, no wiping of outgrown buffers.
  std::vector<const WipedBytes*> sorted(patterns);
  std::sort(sorted.begin(), sorted.end(), [](const WipedBytes* a, const WipedBytes* b) { return *a < *b; });
  std::size_t states = 1;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const WipedBytes& p = *sorted[i];
    std::size_t shared = 0;
    if (i > 0) {
      const WipedBytes& before = *sorted[i - 1];
      shared =
          static_cast<std::size_t>(std::mismatch(p.begin(), p.end(), before.begin(), before.end()).first - p.begin());
    }
    states += p.size() - shared;
  }
  next_.reserve(states * stride_);
  depth_.reserve(states);
  longest_.reserve(states);

  newState(0);
  for (const WipedBytes* p : sorted) {
    if (p->empty()) continue;
    std::uint32_t state = 0;
    for (std::uint8_t b : *p) {
      const std::size_t slot = std::size_t{state} * stride_ + classOf_[b];
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
    const std::size_t row = std::size_t{state} * stride_;
    const std::size_t failRow = std::size_t{fail[state]} * stride_;
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
  encodeTransitions();
}

void AhoCorasick::encodeTransitions() {
  const std::size_t states = depth_.size();
  auto endsPatternAt = [this](std::size_t state) { return longest_[state] != 0 ? 1u : 0u; };
  for (std::size_t s = 0; s < states; ++s) {
    const std::size_t base = s * stride_;
    const std::size_t shift = endsPatternAt(s);
    for (std::size_t c = classes_; c-- > 0;) {
      const std::uint32_t target = next_[base + c];
      next_[base + shift + c] = static_cast<std::uint32_t>(target * stride_ + endsPatternAt(target));
    }
  }
}

AhoCorasick::~AhoCorasick() { secureWipe(classOf_.data(), sizeof classOf_); }

std::optional<AhoCorasick::Match> AhoCorasick::findLeftmostLongest(std::string_view text, std::size_t from) const {
  std::uint32_t entry = 0;  // the root: it ends no pattern
  std::size_t i = from;
  const std::size_t n = text.size();
  // Until a first match: one table lookup per byte.
  for (; i < n; ++i) {
    entry = step(entry, static_cast<unsigned char>(text[i]));
    if (endsPattern(entry)) break;
  }
  if (i >= n) return std::nullopt;
  // A candidate is committed once no later match can start at or before it: every
  // later match starts inside the current state's path, i.e. at >= end - depth.
  Match best{i + 1 - longest_[stateOf(entry)], i + 1};
  for (++i; i < n; ++i) {
    entry = step(entry, static_cast<unsigned char>(text[i]));
    const std::size_t state = stateOf(entry);
    if (endsPattern(entry)) {
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
    if (endsPattern(entry)) return true;
  }
  return false;
}

}  // namespace sealgate
