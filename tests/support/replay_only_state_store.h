// Test double base for code that only uses a StateStore's anti-replay: every
// other operation fails with UNUSED, so a test that reaches one fails loudly.
// Header-only, so that core's tests, the fuzz targets and the benchmarks can
// share it without linking anything.
#pragma once

#include "core/interfaces/state_store.h"

namespace sealgate::testing {

class ReplayOnlyStateStore : public StateStore {
 public:
  using StateStore::takeUses;
  Result<std::uint32_t> takeUses(const UseRequest&) override { return unused(); }
  Result<void> revoke(const std::string&, Clock::time_point) override { return unused(); }
  std::vector<GrantState> grants() const override { return {}; }
  Result<void> putLease(const Lease&) override { return unused(); }
  Result<void> deleteLease(const std::string&) override { return unused(); }
  std::vector<Lease> leases() const override { return {}; }
  Result<void> putRecord(const Record&) override { return unused(); }
  Result<void> deleteRecord(const std::string&, const std::string&) override { return unused(); }
  std::vector<Record> records(const std::string&) const override { return {}; }

 private:
  static Error unused() { return makeError(ErrorCode::Internal, "not used by this test double"); }
};

}  // namespace sealgate::testing
