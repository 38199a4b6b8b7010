// The egress guard: the one redactor every byte leaving sealgate goes through
// (responses, errors, log lines, metric labels, audit events, connector
// outputs, admin data). It knows every live slot value in each of the encodings
// of core/egress_patterns.h and replaces each occurrence with kRedactionMarker;
// output that still carries a value after scrubbing is refused with
// EGRESS_BLOCKED by the caller (docs/EGRESS.md).
//
// There is no process-wide guard: each request has its own (EgressScope below),
// so a value is looked for only in the outputs of the request that made it live
// and one tenant cannot watch another's values being redacted.
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
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/secret.h"
#include "core/zeroizing_allocator.h"

namespace sealgate {

class AhoCorasick;

namespace egress_errc {
inline constexpr ErrorCode kBlocked = ErrorCode::EgressBlocked;  // 502: output would carry a live secret value
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

// One request's egress scope: a guard of its own, current on the thread that
// opened the scope until the scope closes. The exits that run on that thread
// (log lines, the audit log's append, the HTTP response) consult the current
// scope of the thread they run on, so a value made live in one request is looked
// for in that request's outputs only, and in nobody else's (docs/EGRESS.md,
// "Scope"). A value must therefore be handled only on its request's thread.
//
// A scope opened while another is open on the same thread joins it: both name
// the outer scope's guard, and what is kept lives until the outer one closes.
// Neither copyable nor movable (it is bound to its thread).
class EgressScope {
 public:
  EgressScope();
  ~EgressScope();
  EgressScope(const EgressScope&) = delete;
  EgressScope& operator=(const EgressScope&) = delete;

  // The guard of the outermost scope open on this thread.
  EgressGuard& guard() noexcept;
  // Keeps `registration` (of guard()) live until the outermost scope closes:
  // past the handler's return, through the response and the last log line.
  void keep(EgressGuard::Registration registration);

  // The outermost scope open on this thread, or null.
  static EgressScope* current() noexcept;
  // The current scope's guard, or a guard in which nothing is ever live (so an
  // exit outside any request, e.g. a background thread's log line, is not
  // scrubbed against any request's values). Const: nothing registers through it.
  static const EgressGuard& currentGuard() noexcept;

 private:
  struct Owned {
    EgressGuard guard;
    std::vector<EgressGuard::Registration> kept;  // destroyed before the guard
  };
  std::unique_ptr<Owned> owned_;  // null when this scope joined an outer one
};

}  // namespace sealgate
