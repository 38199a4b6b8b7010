// The egress guard: the one redactor every byte leaving sealgate goes through
// (responses, errors, log lines, metric labels, audit events, connector
// outputs, admin data). It knows every live slot value in each of the encodings
// of core/egress_patterns.h and replaces each occurrence with kRedactionMarker;
// output that still carries a value after scrubbing is refused with
// EGRESS_BLOCKED by the caller (docs/EGRESS.md).
//
// Matching is leftmost-longest, non-overlapping (core/aho_corasick.h). Every
// protect() and every unregistration builds a new immutable automaton from all
// live values and publishes it; readers take the current snapshot under a short
// lock, so scrubbing never waits for a rebuild. The automaton and the patterns
// sit in wiped-on-free memory; the last reader of an old snapshot wipes it.
//
// One pass: a replacement can, with its neighbours, spell a value again (a
// value that is part of the marker, or "D]x" after "[REDACTE"). scrub() does not
// loop (that need not end); callers check() after scrubbing and block.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/secret.h"
#include "core/zeroizing_allocator.h"

namespace sealgate {

class AhoCorasick;

namespace egress_errc {
inline constexpr const char* kBlocked = "EGRESS_BLOCKED";  // 502: output would carry a live secret value
}  // namespace egress_errc

inline constexpr std::string_view kRedactionMarker = "[REDACTED]";

class EgressGuard {
 public:
  // While it lives, its value is live. Move-only; the guard must outlive it.
  class Registration {
   public:
    Registration() = default;
    ~Registration() { release(); }
    Registration(Registration&& other) noexcept;
    Registration& operator=(Registration&& other) noexcept;
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

    // Unregisters now (idempotent).
    void release();
    bool live() const { return guard_ != nullptr; }

   private:
    friend class EgressGuard;
    Registration(EgressGuard* guard, std::uint64_t id) : guard_(guard), id_(id) {}
    EgressGuard* guard_ = nullptr;
    std::uint64_t id_ = 0;
  };

  EgressGuard();
  ~EgressGuard();
  EgressGuard(const EgressGuard&) = delete;
  EgressGuard& operator=(const EgressGuard&) = delete;

  // The process-wide guard.
  static EgressGuard& global();

  // Makes `value` live in every encoding until the registration ends. The guard
  // keeps only the encodings, not a reference to `value`. An empty value
  // protects nothing.
  [[nodiscard]] Registration protect(const Secret& value);
  // The same for several values (e.g. every slot of one action) with one
  // rebuild instead of one per value; null entries are skipped.
  [[nodiscard]] Registration protectAll(std::span<const Secret* const> values);

  // True when any value is live: one atomic load, the fast path of every caller.
  bool active() const noexcept { return active_.load(std::memory_order_acquire); }

  // Replaces every occurrence of a live value's encoding with kRedactionMarker;
  // returns how many. The replaced bytes are wiped.
  std::size_t scrub(std::string& text) const;
  // True when `text` carries a live value in any covered encoding.
  bool carries(std::string_view text) const;
  // EGRESS_BLOCKED when `text` carries a live value (the message names no value).
  Result<void> check(std::string_view text) const;
  // `value` with every string and object key scrubbed; adds the replacements to
  // *count. Keys that scrub to the same text keep the last value. Numbers are
  // not looked at: check the serialised form as well.
  nlohmann::json scrubJson(nlohmann::json value, std::size_t* count = nullptr) const;

  // Live registrations (each from one protect() or protectAll()).
  std::size_t liveValues() const;

 private:
  struct Snapshot;
  std::shared_ptr<const Snapshot> snapshot() const;
  void unregister(std::uint64_t id);
  void rebuildLocked();  // with writerMu_ held
  std::size_t scrubJsonInPlace(nlohmann::json& value) const;

  std::atomic<bool> active_{false};
  mutable std::mutex snapshotMu_;  // guards snapshot_ only; held for a pointer copy
  std::shared_ptr<const Snapshot> snapshot_;
  mutable std::mutex writerMu_;  // serialises protect/unregister and their rebuilds
  std::uint64_t nextId_ = 1;
  std::map<std::uint64_t, std::vector<WipedBytes>> live_;
};

}  // namespace sealgate
