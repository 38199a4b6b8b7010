#include "appliance/state/state_guard.h"

#include <ctime>
#include <filesystem>

#include "core/time_format.h"

namespace sealgate::appliance {

StateGuard::StateGuard(StateSettings settings, DataKeySealer& sealer, CounterFactory tpmCounters,
                       std::optional<Error> setupError)
    : settings_(std::move(settings)),
      sealer_(sealer),
      tpmCounters_(std::move(tpmCounters)),
      setupError_(std::move(setupError)) {
  settings_.store.dir = settings_.dir;
  if (!setupError_ && settings_.rollbackProtection && !tpmCounters_) {
    setupError_ = makeError(state_errc::kTpmUnavailable, "rollback protection needs a TPM, and none is open");
  }
}

CounterFactory StateGuard::counters() const {
  if (!settings_.rollbackProtection) return {};
  return tpmCounters_;
}

Result<void> StateGuard::open() {
  std::unique_lock lock(mu_);
  if (setupError_) {
    failure_ = *setupError_;
    return *setupError_;
  }
  auto store = SealedStateStore::open(settings_.store, sealer_, counters());
  if (!store) {
    failure_ = store.error();
    return std::move(store).takeError();
  }
  store_ = std::move(*store);
  return Ok{};
}

Result<void> StateGuard::initialize() {
  if (setupError_) return *setupError_;
  return SealedStateStore::initialize(settings_.store, sealer_, counters());
}

Result<std::string> StateGuard::reinitialize() {
  std::unique_lock lock(mu_);
  if (setupError_) return *setupError_;
  store_.reset();  // closes the journal (a final checkpoint if it was open)
  const std::string stamp = iso8601BasicSeconds(std::chrono::system_clock::now());
  namespace fs = std::filesystem;
  std::string aside = settings_.dir + ".replaced-" + stamp;
  for (int n = 1; fs::exists(aside); ++n) aside = settings_.dir + ".replaced-" + stamp + "-" + std::to_string(n);
  std::error_code ec;
  if (fs::exists(settings_.dir)) {
    fs::rename(settings_.dir, aside, ec);
    if (ec) {
      failure_ = makeError(state_errc::kUnavailable, "cannot move the old state aside: " + ec.message());
      return failure_;
    }
  } else {
    aside.clear();
  }
  if (auto init = SealedStateStore::initialize(settings_.store, sealer_, counters()); !init) {
    failure_ = init.error();
    return std::move(init).takeError();
  }
  auto store = SealedStateStore::open(settings_.store, sealer_, counters());
  if (!store) {
    failure_ = store.error();
    return std::move(store).takeError();
  }
  store_ = std::move(*store);
  return aside;
}

template <typename Fn>
auto StateGuard::withStore(Fn&& fn) const -> decltype(fn(std::declval<SealedStateStore&>())) {
  std::shared_lock lock(mu_);
  if (!store_) return failure_;
  return fn(*store_);
}

void StateGuard::anchorAuditHead(const merkle::TreeHead& head) {
  std::shared_lock lock(mu_);
  if (store_) store_->anchorAuditHead(head);
}

Result<std::optional<merkle::TreeHead>> StateGuard::auditHead() const {
  std::shared_lock lock(mu_);
  if (!store_) return failure_;
  return store_->auditHead();
}

bool StateGuard::healthy() const {
  std::shared_lock lock(mu_);
  return store_ && store_->healthy();
}

nlohmann::json StateGuard::statusJson() const {
  std::shared_lock lock(mu_);
  nlohmann::json j = {{"backend", "sealed-journal"},
                      {"dir", settings_.dir},
                      {"rollback_protection", settings_.rollbackProtection ? "tpm-nv-counter" : "off"}};
  if (!store_) {
    j["status"] = "closed";
    j["code"] = failure_.code;
    j["message"] = failure_.message;
    return j;
  }
  const auto s = store_->status();
  j["status"] = s.failed ? "failed" : "ok";
  j["instance_id"] = s.instanceId;
  j["generation"] = s.generation;
  j["checkpoint"] = s.checkpoint;
  j["anchor"] = s.anchor;
  j["counter_behind"] = s.counterBehind;
  j["entries"] = {{"jtis", s.jtis}, {"grants", s.grants}, {"leases", s.leases}, {"records", s.featureRecords}};
  j["journal_bytes"] = s.journalBytes;
  j["journal_records"] = s.records;
  j["torn_tail_bytes_dropped"] = s.tornTailBytes;
  return j;
}

Result<bool> StateGuard::rememberOnce(const std::string& id, Clock::time_point expiresAt) {
  return withStore([&](SealedStateStore& s) { return s.rememberOnce(id, expiresAt); });
}
Result<std::uint32_t> StateGuard::takeUses(const UseRequest& use) {
  return withStore([&](SealedStateStore& s) { return s.takeUses(use); });
}
Result<void> StateGuard::revoke(const std::string& grantId, Clock::time_point expiresAt) {
  return withStore([&](SealedStateStore& s) { return s.revoke(grantId, expiresAt); });
}
std::vector<StateStore::GrantState> StateGuard::grants() const {
  std::shared_lock lock(mu_);
  return store_ ? store_->grants() : std::vector<GrantState>{};
}
Result<void> StateGuard::putLease(const Lease& lease) {
  return withStore([&](SealedStateStore& s) { return s.putLease(lease); });
}
Result<void> StateGuard::deleteLease(const std::string& leaseId) {
  return withStore([&](SealedStateStore& s) { return s.deleteLease(leaseId); });
}
StateStore::Clock::time_point StateGuard::grantsIssuedFrom() const {
  std::shared_lock lock(mu_);
  return store_ ? store_->grantsIssuedFrom() : Clock::time_point{};
}
std::vector<StateStore::Lease> StateGuard::leases() const {
  std::shared_lock lock(mu_);
  return store_ ? store_->leases() : std::vector<Lease>{};
}
Result<void> StateGuard::putRecord(const Record& record) {
  return withStore([&](SealedStateStore& s) { return s.putRecord(record); });
}
Result<void> StateGuard::deleteRecord(const std::string& kind, const std::string& id) {
  return withStore([&](SealedStateStore& s) { return s.deleteRecord(kind, id); });
}
std::vector<StateStore::Record> StateGuard::records(const std::string& kind) const {
  std::shared_lock lock(mu_);
  return store_ ? store_->records(kind) : std::vector<Record>{};
}

}  // namespace sealgate::appliance
