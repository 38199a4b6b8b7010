#include "core/egress_guard.h"

#include <vector>

#include "core/aho_corasick.h"
#include "core/egress_patterns.h"

namespace sealgate {

struct EgressGuard::Snapshot {
  explicit Snapshot(const std::vector<const WipedBytes*>& patterns) : matcher(patterns) {}
  AhoCorasick matcher;
};

EgressGuard::Registration::Registration(Registration&& other) noexcept
    : guard_(std::exchange(other.guard_, nullptr)), id_(other.id_) {}

EgressGuard::Registration& EgressGuard::Registration::operator=(Registration&& other) noexcept {
  if (this != &other) {
    release();
    guard_ = std::exchange(other.guard_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

void EgressGuard::Registration::release() {
  if (guard_ != nullptr) std::exchange(guard_, nullptr)->unregister(id_);
}

EgressGuard::EgressGuard() = default;
EgressGuard::~EgressGuard() = default;

namespace {
// The outermost scope open on this thread.
thread_local EgressScope* tCurrentScope = nullptr;
}  // namespace

EgressScope::EgressScope() {
  if (tCurrentScope == nullptr) {
    owned_ = std::make_unique<Owned>();
    tCurrentScope = this;
  }
}

EgressScope::~EgressScope() {
  if (!owned_) return;
  owned_->kept.clear();  // unregister before the guard goes
  tCurrentScope = nullptr;
}

EgressGuard& EgressScope::guard() noexcept { return owned_ ? owned_->guard : tCurrentScope->guard(); }

void EgressScope::keep(EgressGuard::Registration registration) {
  if (!owned_) {
    tCurrentScope->keep(std::move(registration));
    return;
  }
  owned_->kept.push_back(std::move(registration));
}

EgressScope* EgressScope::current() noexcept { return tCurrentScope; }

const EgressGuard& EgressScope::currentGuard() noexcept {
  if (tCurrentScope != nullptr) return tCurrentScope->guard();
  // Never destroyed (exits may run during static destruction); nothing registers in it.
  static const EgressGuard* const none = new EgressGuard();
  return *none;
}

EgressGuard::Registration EgressGuard::protect(const Secret& value) {
  const Secret* one[] = {&value};
  return protectAll(one);
}

EgressGuard::Registration EgressGuard::protectAll(std::span<const Secret* const> values) {
  std::vector<WipedBytes> patterns;
  for (const Secret* value : values) {
    if (value == nullptr) continue;
    for (auto& p : egressPatterns(value->exposeSecretBytes())) patterns.push_back(std::move(p));
  }
  std::lock_guard lock(writerMu_);
  const std::uint64_t id = nextId_++;
  live_.emplace(id, std::move(patterns));
  try {
    rebuildLocked();
  } catch (...) {
    live_.erase(id);  // the caller must not believe the value protected
    throw;
  }
  return Registration(this, id);
}

void EgressGuard::unregister(std::uint64_t id) {
  std::lock_guard lock(writerMu_);
  live_.erase(id);
  try {
    rebuildLocked();
  } catch (const std::bad_alloc&) {
    // The previous snapshot stays: it redacts one value too many, never one too few.
  }
}

void EgressGuard::rebuildLocked() {
  std::shared_ptr<const Snapshot> next;
  if (!live_.empty()) {
    std::vector<const WipedBytes*> patterns;
    for (const auto& [id, list] : live_) {
      for (const auto& p : list) patterns.push_back(&p);
    }
    next = std::make_shared<const Snapshot>(patterns);
  }
  {
    std::lock_guard lock(snapshotMu_);
    snapshot_.swap(next);
  }
  // After publishing: a reader that sees active_ also sees the snapshot.
  active_.store(!live_.empty(), std::memory_order_release);
  // `next` (the old snapshot) is wiped here or by its last reader.
}

std::shared_ptr<const EgressGuard::Snapshot> EgressGuard::snapshot() const {
  if (!active()) return nullptr;
  std::lock_guard lock(snapshotMu_);
  return snapshot_;
}

std::size_t EgressGuard::scrub(std::string& text) const {
  const auto snap = snapshot();
  if (!snap) return 0;
  auto match = snap->matcher.findLeftmostLongest(text);
  if (!match) return 0;
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0, count = 0;
  while (match) {
    out.append(text, pos, match->begin - pos);
    out.append(kRedactionMarker);
    pos = match->end;
    ++count;
    match = snap->matcher.findLeftmostLongest(text, pos);
  }
  out.append(text, pos);
  secureWipe(text.data(), text.size());
  text.swap(out);
  return count;
}

bool EgressGuard::carries(std::string_view text) const {
  const auto snap = snapshot();
  return snap && snap->matcher.containsAny(text);
}

Result<void> EgressGuard::check(std::string_view text) const {
  if (carries(text)) return makeError(egress_errc::kBlocked, "the output would carry a live secret value");
  return Ok{};
}

std::size_t EgressGuard::scrubJsonInPlace(nlohmann::json& root) const {
  // Iterative, so no document can exhaust the stack.
  std::size_t count = 0;
  std::vector<nlohmann::json*> todo{&root};
  while (!todo.empty()) {
    nlohmann::json& value = *todo.back();
    todo.pop_back();
    if (value.is_string()) {
      count += scrub(value.get_ref<std::string&>());
    } else if (value.is_array()) {
      for (auto& element : value) todo.push_back(&element);
    } else if (value.is_object()) {
      nlohmann::json scrubbed = nlohmann::json::object();
      for (auto& [key, member] : value.items()) {
        std::string newKey = key;
        count += scrub(newKey);
        scrubbed[std::move(newKey)] = std::move(member);
      }
      value = std::move(scrubbed);
      for (auto& [key, member] : value.items()) todo.push_back(&member);
    }
  }
  return count;
}

nlohmann::json EgressGuard::scrubJson(nlohmann::json value, std::size_t* count) const {
  if (!active()) return value;
  const std::size_t replaced = scrubJsonInPlace(value);
  if (count != nullptr) *count += replaced;
  return value;
}

std::size_t EgressGuard::liveValues() const {
  std::lock_guard lock(writerMu_);
  return live_.size();
}

}  // namespace sealgate
