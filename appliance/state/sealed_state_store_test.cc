// SealedStateStore against a real SoftHSM2 token (the KEK) and, for rollback
// protection, a real swtpm (PCR sealing and the NV counter).
#include "appliance/state/sealed_state_store.h"

#include <gtest/gtest.h>

#include <stdlib.h>
#include <map>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "appliance/grants/grants.h"
#include "appliance/keys/data_key_sealer.h"
#include "appliance/keys/tpm_counter.h"
#include "tests/support/swtpm.h"
#include "tests/support/temp_dir.h"
#include "tests/support/temp_token.h"

namespace sealgate::appliance {
namespace {

namespace fs = std::filesystem;
using Clock = StateStore::Clock;
constexpr std::uint32_t kNvIndex = 0x01500020;

std::string tempDir() { return testing::makeTempDir("sealgate-state"); }

std::string readAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void writeAll(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

hsm::KeyStore& sharedKeys() {
  static std::unique_ptr<hsm::KeyStore> keys = [] {
    auto k = testing::openFreshToken("state-test");
    if (!k->generateAes256Key("sealgate-kek")) std::abort();
    return k;
  }();
  return *keys;
}

// A counter over the real TPM that can be told to fail its next increment, to
// stand for a crash between a durable checkpoint and the TPM increment.
class FlakyCounter : public MonotonicCounter {
 public:
  explicit FlakyCounter(std::unique_ptr<MonotonicCounter> real, bool* failNext)
      : real_(std::move(real)), failNext_(failNext) {}
  Result<std::uint64_t> read() override { return real_->read(); }
  Result<std::uint64_t> increment() override {
    if (*failNext_) {
      *failNext_ = false;
      return makeError(ErrorCode::TpmUnavailable, "injected: the process died before the increment");
    }
    return real_->increment();
  }
  std::string describe() const override { return real_->describe(); }

 private:
  std::unique_ptr<MonotonicCounter> real_;
  bool* failNext_;
};

class SealedStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tempDir();
    options_.dir = root_ + "/state";
    options_.checkpointInterval = std::chrono::hours(1);  // tests checkpoint explicitly
    sealer_ = std::make_unique<HsmTpmDataKeySealer>(sharedKeys(), "sealgate-kek", nullptr, std::vector<unsigned>{});
  }
  void TearDown() override {
    sealer_.reset();
    tpm_.reset();
    swtpm_.reset();
    fs::remove_all(root_);
  }
  void useTpm() {
    fs::create_directories(root_ + "/tpm");
    swtpm_ = std::make_unique<testing::Swtpm>(root_ + "/tpm");
    auto tpm = attest::Tpm::open(swtpm_->tcti());
    ASSERT_TRUE(tpm) << tpm.error().describe();
    tpm_ = std::move(*tpm);
    sealer_ =
        std::make_unique<HsmTpmDataKeySealer>(sharedKeys(), "sealgate-kek", tpm_.get(), std::vector<unsigned>{16});
    counters_ = [this](const Secret& auth, bool define) -> Result<std::unique_ptr<MonotonicCounter>> {
      auto real = tpmCounterFactory(*tpm_, kNvIndex)(auth, define);
      if (!real) return std::move(real).takeError();
      return std::unique_ptr<MonotonicCounter>(new FlakyCounter(std::move(*real), &failNextIncrement_));
    };
  }
  std::unique_ptr<SealedStateStore> init() {
    auto r = SealedStateStore::initialize(options_, *sealer_, counters_);
    EXPECT_TRUE(r) << r.error().describe();
    return reopen();
  }
  std::unique_ptr<SealedStateStore> reopen() {
    auto s = SealedStateStore::open(options_, *sealer_, counters_);
    EXPECT_TRUE(s) << s.error().describe();
    return s ? std::move(*s) : nullptr;
  }
  Error openError() {
    auto s = SealedStateStore::open(options_, *sealer_, counters_);
    EXPECT_FALSE(s) << "opened state that should have been refused";
    return s ? Error{} : s.error();
  }
  fs::path journal() const { return fs::path(options_.dir) / "journal"; }

  std::string root_;
  SealedStateOptions options_;
  std::unique_ptr<testing::Swtpm> swtpm_;
  std::unique_ptr<attest::Tpm> tpm_;
  std::unique_ptr<HsmTpmDataKeySealer> sealer_;
  CounterFactory counters_;
  bool failNextIncrement_ = false;
  const Clock::time_point later_ = Clock::now() + std::chrono::minutes(10);
};

TEST_F(SealedStateTest, ReplayUseCountsRevocationAndLeasesSurviveReopen) {
  {
    auto s = init();
    ASSERT_TRUE(s);
    EXPECT_TRUE(*s->rememberOnce("dpop:k:j1", later_));
    EXPECT_FALSE(*s->rememberOnce("dpop:k:j1", later_));
    EXPECT_EQ(*s->takeUse("g1", 3, later_), 2u);
    EXPECT_EQ(*s->takeUses("g2", 2, 5, later_), 3u);
    ASSERT_TRUE(s->revoke("g3", later_));
    ASSERT_TRUE(s->putLease({"database/creds/app/abc", R"({"role":"app","username":"v-app-1"})", later_}));
    ASSERT_TRUE(s->putLease({"database/creds/app/gone", "{}", later_}));
    ASSERT_TRUE(s->deleteLease("database/creds/app/gone"));
  }
  auto s = reopen();
  ASSERT_TRUE(s);
  EXPECT_FALSE(*s->rememberOnce("dpop:k:j1", later_));  // still a replay after restart
  EXPECT_TRUE(*s->rememberOnce("dpop:k:j2", later_));
  EXPECT_EQ(*s->takeUse("g1", 3, later_), 1u);
  EXPECT_EQ(*s->takeUse("g2", 5, later_), 2u);
  EXPECT_EQ(s->takeUse("g3", 5, later_).error().code, ErrorCode::GrantRevoked);
  auto leases = s->leases();
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].leaseId, "database/creds/app/abc");
  EXPECT_EQ(leases[0].dataJson, R"({"role":"app","username":"v-app-1"})");
  EXPECT_EQ(s->grants().size(), 3u);
}

TEST_F(SealedStateTest, SameSemanticsAsTheContract) {
  auto s = init();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->takeUse("g", 2, later_).value(), 1u);
  EXPECT_EQ(s->takeUse("g", 2, later_).value(), 0u);
  EXPECT_EQ(s->takeUse("g", 2, later_).error().code, ErrorCode::GrantExhausted);
  EXPECT_EQ(s->takeUses("h", 3, 2, later_).error().code, ErrorCode::GrantExhausted);  // all or nothing
  EXPECT_EQ(*s->takeUses("h", 2, 2, later_), 0u);
  EXPECT_EQ(s->takeUses("i", 0, 2, later_).error().code, ErrorCode::InvalidRequest);
  // An id whose window has already ended is treated as seen: the store may have
  // pruned it, so it cannot tell (the pruning horizon).
  EXPECT_FALSE(*s->rememberOnce("old", Clock::now() - std::chrono::seconds(1)));
  EXPECT_TRUE(*s->rememberOnce("old", later_));
  EXPECT_FALSE(*s->rememberOnce("old", later_));
  EXPECT_EQ(s->takeUse(std::string(2000, 'x'), 2, later_).error().code, ErrorCode::InvalidRequest);
}

TEST_F(SealedStateTest, ConcurrentCallersAreGroupCommittedAndExact) {
  auto s = init();
  ASSERT_TRUE(s);
  constexpr int kThreads = 8, kPerThread = 200, kUses = 500;
  std::atomic<int> fresh{0}, taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (*s->rememberOnce("jti-" + std::to_string(t) + "-" + std::to_string(i), later_)) ++fresh;
        // Every thread also replays one shared jti: exactly one caller wins it.
        if (i == 0 && *s->rememberOnce("shared", later_)) ++fresh;
        if (s->takeUse("busy-grant", kUses, later_)) ++taken;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(fresh.load(), kThreads * kPerThread + 1);
  EXPECT_EQ(taken.load(), kUses);  // 1600 attempts, exactly max_uses succeed
  const auto st = s->status();
  // Group commit: far fewer records than the 3 200+ durable changes.
  EXPECT_LT(st.records, static_cast<std::uint64_t>(kThreads * kPerThread + kUses));
  s.reset();
  auto again = reopen();
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again->rememberOnce("jti-3-17", later_));
  EXPECT_EQ(again->takeUse("busy-grant", kUses, later_).error().code, ErrorCode::GrantExhausted);
}

TEST_F(SealedStateTest, NeverCreatedSilently) {
  EXPECT_EQ(openError().code, state_errc::kMissing);
  ASSERT_TRUE(init());
  fs::remove(journal());
  EXPECT_EQ(openError().code, state_errc::kMissing);
}

TEST_F(SealedStateTest, InitializeRefusesExistingState) {
  ASSERT_TRUE(init());
  auto again = SealedStateStore::initialize(options_, *sealer_, counters_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::StateExists);
}

TEST_F(SealedStateTest, EveryFlippedBitIsRefused) {
  {
    auto s = init();
    ASSERT_TRUE(s);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(*s->rememberOnce("j" + std::to_string(i), later_));
    ASSERT_TRUE(s->takeUse("g", 5, later_));
  }
  // A compaction and a reopen: the journal holds a snapshot record, then
  // appended checkpoint and change records.
  {
    auto s = reopen();
    ASSERT_TRUE(s->compact());
  }
  {
    auto s = reopen();
    ASSERT_TRUE(*s->rememberOnce("after-snapshot", later_));
  }
  const std::string good = readAll(journal());
  ASSERT_GT(good.size(), 100u);
  // Every byte of the header and frames, and a spread of the rest.
  std::vector<std::size_t> positions;
  for (std::size_t i = 0; i < 56 && i < good.size(); ++i) positions.push_back(i);
  for (std::size_t i = 56; i < good.size(); i += good.size() / 40 + 1) positions.push_back(i);
  positions.push_back(good.size() - 1);
  for (std::size_t at : positions) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ (1 << (at % 8)));
    writeAll(journal(), bad);
    auto s = SealedStateStore::open(options_, *sealer_, counters_);
    ASSERT_FALSE(s) << "a flipped bit at byte " << at << " was accepted";
    EXPECT_EQ(s.error().code, state_errc::kTampered) << "byte " << at << ": " << s.error().describe();
  }
  writeAll(journal(), good);
  EXPECT_TRUE(reopen());
}

TEST_F(SealedStateTest, TruncationInTheMiddleReorderingAndSplicingAreRefused) {
  {
    auto s = init();
    ASSERT_TRUE(s);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(*s->rememberOnce("r" + std::to_string(i), later_));
  }
  const std::string good = readAll(journal());
  // Frame boundaries of the records.
  std::vector<std::size_t> starts;
  for (std::size_t at = 40; at + 8 <= good.size();) {
    starts.push_back(at);
    std::uint32_t len = 0;
    std::memcpy(&len, good.data() + at, 4);
    at += 8 + len;
  }
  ASSERT_GE(starts.size(), 4u);
  const auto recordAt = [&](std::size_t i) {
    const std::size_t end = i + 1 < starts.size() ? starts[i + 1] : good.size();
    return good.substr(starts[i], end - starts[i]);
  };
  // A whole record cut out of the middle.
  writeAll(journal(), good.substr(0, starts[1]) + good.substr(starts[2]));
  EXPECT_EQ(openError().code, state_errc::kTampered);
  // A few bytes cut out of the middle.
  writeAll(journal(), good.substr(0, starts[2] + 20) + good.substr(starts[2] + 27));
  EXPECT_EQ(openError().code, state_errc::kTampered);
  // Two records swapped.
  writeAll(journal(), good.substr(0, starts[1]) + recordAt(2) + recordAt(1) + good.substr(starts[3]));
  EXPECT_EQ(openError().code, state_errc::kTampered);
  // A record duplicated (replayed).
  writeAll(journal(), good + recordAt(1));
  EXPECT_EQ(openError().code, state_errc::kTampered);

  // A record spliced in from another appliance's state (same HSM, other instance).
  SealedStateOptions other = options_;
  other.dir = root_ + "/other";
  ASSERT_TRUE(SealedStateStore::initialize(other, *sealer_, counters_));
  {
    auto o = SealedStateStore::open(other, *sealer_, counters_);
    ASSERT_TRUE(o);
    ASSERT_TRUE(*(*o)->rememberOnce("foreign", later_));
  }
  const std::string foreign = readAll(fs::path(other.dir) / "journal");
  std::uint32_t len0 = 0;
  std::memcpy(&len0, foreign.data() + 40, 4);
  const std::string foreignRecord = foreign.substr(40 + 8 + len0);
  writeAll(journal(), good + foreignRecord);
  EXPECT_EQ(openError().code, state_errc::kTampered);
  // A whole foreign journal in place of ours, with our sealed data key.
  writeAll(journal(), foreign);
  EXPECT_EQ(openError().code, state_errc::kTampered);
  // A corrupt or foreign sealed data key.
  writeAll(journal(), good);
  const fs::path key = fs::path(options_.dir) / "datakey.sealed";
  const std::string goodKey = readAll(key);
  std::string badKey = goodKey;
  badKey[badKey.size() - 5] ^= 0x40;
  writeAll(key, badKey);
  EXPECT_EQ(openError().code, state_errc::kTampered);
  writeAll(key, readAll(fs::path(other.dir) / "datakey.sealed"));
  EXPECT_EQ(openError().code, state_errc::kTampered);
  writeAll(key, "garbage");
  EXPECT_EQ(openError().code, state_errc::kTampered);
  writeAll(key, goodKey);
  EXPECT_TRUE(reopen());
}

TEST_F(SealedStateTest, AnIncompleteFinalRecordIsDroppedAndReported) {
  {
    auto s = init();
    ASSERT_TRUE(s);
    ASSERT_TRUE(*s->rememberOnce("kept", later_));
  }
  const std::string good = readAll(journal());
  // What a crash in the middle of an append leaves: part of a frame, or a frame
  // whose body never fully reached the file. Never acknowledged, so dropped.
  for (std::size_t extra : {std::size_t{3}, std::size_t{8}, std::size_t{30}}) {
    std::string torn =
        good + std::string("\x40\x00\x00\x00\xbf\xff\xff\xff", 8).substr(0, std::min<std::size_t>(extra, 8));
    if (extra > 8) torn += std::string(extra - 8, 'x');
    writeAll(journal(), torn);
    auto s = reopen();
    ASSERT_TRUE(s) << "torn tail of " << extra;
    EXPECT_EQ(s->status().tornTailBytes, extra);
    EXPECT_FALSE(*s->rememberOnce("kept", later_));
    s.reset();
    // The torn bytes were cut off before appending: the next open finds none.
    auto again = reopen();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status().tornTailBytes, 0u);
    again.reset();
    writeAll(journal(), good);
  }
}

TEST_F(SealedStateTest, AGrantsBindingIsRecordedAtFirstUseAndSurvivesReopenAndCompaction) {
  using Binding = StateStore::GrantBinding;
  {
    auto s = init();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->takeUses({"mtls-grant", 1, 3, later_, {}, Binding::Mtls}));
    ASSERT_TRUE(s->takeUses({"dpop-grant", 1, 3, later_, {}, Binding::Dpop}));
    ASSERT_TRUE(s->takeUses({"dpop-grant", 1, 3, later_, {}, Binding::Mtls}));  // the first use's binding stays
    ASSERT_TRUE(s->revoke("revoked-unseen", later_));                           // never used: unknown
    ASSERT_TRUE(s->revoke("mtls-grant", later_));
  }
  auto bindings = [](const SealedStateStore& s) {
    std::map<std::string, std::pair<Binding, bool>> out;
    for (const auto& g : s.grants()) out[g.grantId] = {g.binding, g.revoked};
    return out;
  };
  const std::map<std::string, std::pair<Binding, bool>> want = {{"mtls-grant", {Binding::Mtls, true}},
                                                                {"dpop-grant", {Binding::Dpop, false}},
                                                                {"revoked-unseen", {Binding::Unknown, true}}};
  auto s = reopen();
  ASSERT_TRUE(s);
  EXPECT_EQ(bindings(*s), want);
  ASSERT_TRUE(s->compact());
  s.reset();
  s = reopen();
  ASSERT_TRUE(s);
  EXPECT_EQ(bindings(*s), want);
}

TEST_F(SealedStateTest, RecordsArePutReplacedDeletedAndSurviveReopenAndCompaction) {
  {
    auto s = init();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->putRecord({"bg.request", "r1", R"({"state":"pending"})"}));
    ASSERT_TRUE(s->putRecord({"bg.request", "r1", R"({"state":"open"})"}));  // replaces
    ASSERT_TRUE(s->putRecord({"bg.request", "r2", R"({"state":"pending"})"}));
    ASSERT_TRUE(s->putRecord({"bg.approver", "alice", "{}"}));
    ASSERT_TRUE(s->deleteRecord("bg.request", "r2"));
    ASSERT_TRUE(s->deleteRecord("bg.request", "never-there"));  // nothing to delete is not an error
    EXPECT_EQ(s->putRecord({"", "r3", "{}"}).error().code, ErrorCode::InvalidRequest);
    EXPECT_EQ(s->putRecord({"bg.request", "", "{}"}).error().code, ErrorCode::InvalidRequest);
    EXPECT_EQ(s->putRecord({std::string(65, 'k'), "r3", "{}"}).error().code, ErrorCode::InvalidRequest);
    EXPECT_EQ(s->status().featureRecords, 2u);
  }
  auto check = [](SealedStateStore& s) {
    const auto requests = s.records("bg.request");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].id, "r1");
    EXPECT_EQ(requests[0].dataJson, R"({"state":"open"})");
    ASSERT_EQ(s.records("bg.approver").size(), 1u);
    EXPECT_TRUE(s.records("bg.none").empty());
    EXPECT_TRUE(s.records("bg").empty());  // a kind is matched whole, not as a prefix
  };
  auto s = reopen();
  ASSERT_TRUE(s);
  check(*s);
  ASSERT_TRUE(s->compact());
  s.reset();
  s = reopen();
  ASSERT_TRUE(s);
  check(*s);
}

TEST_F(SealedStateTest, ExpiredEntriesAreCompactedAwayAndMemoryIsBounded) {
  options_.maxLiveEntries = 100;
  auto s = init();
  ASSERT_TRUE(s);
  const auto soon = Clock::now() + std::chrono::milliseconds(1500);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(*s->rememberOnce("short-" + std::to_string(i), soon));
  auto full = s->rememberOnce("one-too-many", later_);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, state_errc::kFull);
  std::this_thread::sleep_for(std::chrono::milliseconds(2600));
  EXPECT_TRUE(*s->rememberOnce("one-too-many", later_));  // the expired ones were pruned
  const auto before = s->status();
  ASSERT_TRUE(s->compact());
  const auto after = s->status();
  EXPECT_EQ(after.jtis, 1u);
  EXPECT_LT(after.journalBytes, before.journalBytes);
  EXPECT_EQ(after.generation, before.generation + 1);
  s.reset();
  auto again = reopen();
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again->rememberOnce("one-too-many", later_));
  EXPECT_EQ(again->status().jtis, 1u);
}

TEST_F(SealedStateTest, RestoringAnOlderCopyIsARollback) {
  useTpm();
  {
    auto s = init();
    ASSERT_TRUE(s);
    ASSERT_TRUE(*s->rememberOnce("spent-before-copy", later_));
    EXPECT_TRUE(s->status().rollbackProtection);
    EXPECT_EQ(s->status().anchor, "tpm-nv:0x01500020");
  }
  const std::string copy = root_ + "/copy";
  fs::copy(options_.dir, copy, fs::copy_options::recursive);
  {
    auto s = reopen();  // a restart is a checkpoint
    ASSERT_TRUE(s);
    ASSERT_TRUE(*s->rememberOnce("spent-after-copy", later_));
    ASSERT_TRUE(s->checkpoint());
  }
  fs::remove_all(options_.dir);
  fs::copy(copy, options_.dir, fs::copy_options::recursive);
  EXPECT_EQ(openError().code, state_errc::kRollback);
}

TEST_F(SealedStateTest, ACrashBetweenCheckpointAndIncrementIsFinishedAtOpen) {
  useTpm();
  std::uint64_t checkpoint = 0;
  {
    auto s = init();
    ASSERT_TRUE(s);
    ASSERT_TRUE(*s->rememberOnce("x", later_));
    failNextIncrement_ = true;  // the checkpoint is durable, the increment is lost
    auto r = s->checkpoint();
    ASSERT_FALSE(r);
    EXPECT_TRUE(s->status().counterBehind);
    checkpoint = s->status().checkpoint;
  }
  auto s = reopen();  // file == counter + 1: accepted, and the increment finished
  ASSERT_TRUE(s);
  EXPECT_GT(s->status().checkpoint, checkpoint);
  EXPECT_FALSE(*s->rememberOnce("x", later_));
}

TEST_F(SealedStateTest, AResetTpmOrAbsentTpmFailsClosed) {
  useTpm();
  ASSERT_TRUE(init());
  // The TPM goes away.
  tpm_.reset();
  swtpm_.reset();
  EXPECT_FALSE(attest::Tpm::open("swtpm:path=" + root_ + "/tpm/swtpm.sock"));
  // A different (cleared) TPM: the sealed key does not open, and the counter is gone.
  fs::remove_all(root_ + "/tpm");
  useTpm();
  const Error e = openError();
  EXPECT_TRUE(e.code == attest::tpm_errc::kForeignBlob || e.code == attest::tpm_errc::kCounterMissing) << e.describe();
}

TEST_F(SealedStateTest, ATpmSealedKeyNeedsTheTpmAndAnHsmOnlyKeyIsNotSilentlyAccepted) {
  useTpm();
  ASSERT_TRUE(init());
  // Open the TPM-sealed key without a TPM configured: refused, never downgraded.
  HsmTpmDataKeySealer noTpm(sharedKeys(), "sealgate-kek", nullptr, {});
  auto s = SealedStateStore::open(options_, noTpm, {});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, sealer_errc::kTpmRequired);
  // The PCRs change: the data key stays sealed.
  ASSERT_TRUE(tpm_->extendPcr(16, "another boot"));
  EXPECT_EQ(openError().code, attest::tpm_errc::kPolicy);
  ASSERT_TRUE(tpm_->resetPcr(16));
  EXPECT_TRUE(reopen());
}

TEST_F(SealedStateTest, JournalHoldsNoPlaintextIdentifiers) {
  {
    auto s = init();
    ASSERT_TRUE(s);
    ASSERT_TRUE(*s->rememberOnce("canary-jti-7f3a9c", later_));
    ASSERT_TRUE(s->takeUse("canary-grant-7f3a9c", 3, later_));
    ASSERT_TRUE(s->putLease({"canary-lease-7f3a9c", R"({"username":"canary-user-7f3a9c"})", later_}));
    ASSERT_TRUE(s->putRecord({"canary-kind-7f3a9c", "canary-id-7f3a9c", R"({"who":"canary-7f3a9c"})"}));
  }
  for (const auto& entry : fs::directory_iterator(options_.dir)) {
    const std::string bytes = readAll(entry.path());
    EXPECT_EQ(bytes.find("7f3a9c"), std::string::npos) << entry.path();
  }
}

}  // namespace
}  // namespace sealgate::appliance

namespace sealgate::appliance {
namespace {

// Issue 12 item 2/6, as a property: whatever the interleaving of uses,
// revocations, delegations, pruning, compaction, restarts and clock steps
// (forward and back), no grant is used more than max_uses times and no grant is
// used after it or an ancestor was revoked. The verifier is modelled exactly as
// GrantAuthority::verify decides lifetime (exp + kGrantClockLeeway), and the
// state's retention comes from grantStateKeepUntil, as in the daemon.
class GrantStateProperty : public SealedStateTest {
 protected:
  struct Grant {
    std::string id;
    std::uint32_t maxUses = 1;
    std::int64_t exp = 0;  // seconds
    std::vector<std::string> anc;
    std::uint32_t spent = 0;  // uses taken by consume plus uses reserved for children
    bool revokedAcknowledged = false;
  };

  Clock::time_point now() const { return Clock::time_point(std::chrono::milliseconds(nowMs_)); }
  std::int64_t nowSeconds() const { return nowMs_ / 1000; }
  bool verifies(const Grant& g) const { return g.exp > nowSeconds() - kGrantClockLeeway.count(); }
  bool revokedOrAncestorRevoked(const Grant& g) const {
    if (g.revokedAcknowledged) return true;
    for (const auto& a : g.anc) {
      if (grants_.at(a).revokedAcknowledged) return true;
    }
    return false;
  }

  std::int64_t nowMs_ = 0;
  std::map<std::string, Grant> grants_;
};

TEST_F(GrantStateProperty, NoInterleavingExceedsMaxUsesOrUsesARevokedGrant) {
  const std::int64_t start =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count() + 10'000;
  nowMs_ = start;
  options_.clock = [this] { return now(); };
  auto store = init();
  ASSERT_TRUE(store);
  std::size_t acceptedAfterExpiry = 0, refusedExpired = 0, delegated = 0, revocations = 0;
  for (unsigned seed = 1; seed <= 12; ++seed) {
    std::mt19937 rng(seed);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    grants_.clear();
    for (int step = 0; step < 160; ++step) {
      const int op = pick(100);
      std::vector<std::string> ids;
      for (const auto& [id, g] : grants_) ids.push_back(id);
      if (op < 12 || ids.empty()) {  // authorize: a new root grant
        Grant g;
        g.id = "s" + std::to_string(seed) + "-g" + std::to_string(step);
        g.maxUses = 1 + static_cast<std::uint32_t>(pick(4));
        g.exp = nowSeconds() + 1 + pick(20);
        grants_[g.id] = g;
      } else if (op < 55) {  // consume
        Grant& g = grants_[ids[static_cast<std::size_t>(pick(static_cast<int>(ids.size())))]];
        if (!verifies(g)) continue;
        auto r = store->takeUses(StateStore::UseRequest{g.id, 1, g.maxUses, grantStateKeepUntil(g.exp), g.anc});
        if (r) {
          ++g.spent;
          ASSERT_LE(g.spent, g.maxUses) << "seed " << seed << " step " << step << ": more uses than max_uses";
          ASSERT_FALSE(revokedOrAncestorRevoked(g))
              << "seed " << seed << " step " << step << ": a revoked grant was used";
          if (g.exp <= nowSeconds()) ++acceptedAfterExpiry;
        } else {
          const ErrorCode code = r.error().code;
          ASSERT_TRUE(code == state_errc::kGrantExhausted || code == state_errc::kGrantRevoked ||
                      code == state_errc::kGrantExpired)
              << code;
          if (code == state_errc::kGrantExpired) ++refusedExpired;
        }
      } else if (op < 68) {  // delegate: reserve uses from the parent for a child
        Grant& p = grants_[ids[static_cast<std::size_t>(pick(static_cast<int>(ids.size())))]];
        if (!verifies(p) || p.anc.size() >= 3) continue;
        const std::uint32_t uses = 1 + static_cast<std::uint32_t>(pick(2));
        auto r = store->takeUses(StateStore::UseRequest{p.id, uses, p.maxUses, grantStateKeepUntil(p.exp), p.anc});
        if (!r) continue;
        p.spent += uses;
        ASSERT_LE(p.spent, p.maxUses) << "seed " << seed << " step " << step << ": a delegation overdrew its parent";
        ASSERT_FALSE(revokedOrAncestorRevoked(p))
            << "seed " << seed << " step " << step << ": a revoked grant delegated";
        Grant c;
        c.id = p.id + "/c" + std::to_string(step);
        c.maxUses = uses;
        c.exp = std::min<std::int64_t>(p.exp, nowSeconds() + 1 + pick(10));
        c.anc = p.anc;
        c.anc.push_back(p.id);
        grants_[c.id] = c;
        ++delegated;
      } else if (op < 76) {  // revoke (the admin API keeps a revocation for max_ttl)
        Grant& g = grants_[ids[static_cast<std::size_t>(pick(static_cast<int>(ids.size())))]];
        ASSERT_TRUE(store->revoke(g.id, grantStateKeepUntil(nowSeconds() + 30)));
        g.revokedAcknowledged = true;
        ++revocations;
      } else if (op < 86) {  // the clock moves forward, sometimes far past every exp
        nowMs_ += pick(4) == 0 ? 15'000 + pick(20'000) : pick(3'000);
      } else if (op < 90) {  // the clock steps back (NTP correction, a VM restored)
        nowMs_ -= pick(12'000);
      } else if (op < 95) {  // prune and compact
        ASSERT_TRUE(store->compact());
      } else {  // restart
        store.reset();
        store = reopen();
        ASSERT_TRUE(store);
      }
    }
  }
  // The run exercised what it claims to: expiry refusals, delegation, revocation,
  // and uses inside the leeway after exp.
  EXPECT_GT(refusedExpired, 0u);
  EXPECT_GT(delegated, 0u);
  EXPECT_GT(revocations, 0u);
  EXPECT_GT(acceptedAfterExpiry, 0u);
}

// The reported instance: a grant exhausted (or revoked) before exp verifies for
// kGrantClockLeeway more seconds; pruning at exp must not give its uses back.
TEST_F(GrantStateProperty, AnExhaustedOrRevokedGrantStaysSoInTheLeewayAfterExp) {
  nowMs_ = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
  options_.clock = [this] { return now(); };
  auto store = init();
  ASSERT_TRUE(store);
  const std::int64_t exp = nowSeconds() + 2;
  ASSERT_TRUE(store->takeUse("spent", 1, grantStateKeepUntil(exp)));
  ASSERT_TRUE(store->revoke("revoked", grantStateKeepUntil(exp)));
  nowMs_ = (exp + kGrantClockLeeway.count() - 1) * 1000 + 500;  // still verifies
  ASSERT_TRUE(store->compact());                                // prunes what expired
  EXPECT_EQ(store->takeUse("spent", 1, grantStateKeepUntil(exp)).error().code, state_errc::kGrantExhausted);
  EXPECT_EQ(store->takeUse("revoked", 1, grantStateKeepUntil(exp)).error().code, state_errc::kGrantRevoked);
  // Past the retention the state drops them, and an unknown grant whose window
  // ended is refused rather than started afresh, also after a restart and with
  // the clock stepped back.
  nowMs_ += 10'000;
  ASSERT_TRUE(store->compact());
  EXPECT_EQ(store->status().grants, 0u);
  store.reset();
  nowMs_ -= 9'000;
  store = reopen();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->takeUse("spent", 1, grantStateKeepUntil(exp)).error().code, state_errc::kGrantExpired);
  EXPECT_EQ(store->takeUse("revoked", 1, grantStateKeepUntil(exp)).error().code, state_errc::kGrantExpired);
  EXPECT_FALSE(*store->rememberOnce("jti-of-that-time", grantStateKeepUntil(exp)));
}

TEST_F(GrantStateProperty, RevokingAnAncestorStopsEveryDescendant) {
  auto store = init();
  ASSERT_TRUE(store);
  const auto keep = grantStateKeepUntil(
      std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count() + 60);
  ASSERT_TRUE(store->takeUses(StateStore::UseRequest{"root", 2, 5, keep, {}}));
  ASSERT_TRUE(store->takeUses(StateStore::UseRequest{"child", 1, 2, keep, {"root"}}));
  ASSERT_TRUE(store->revoke("root", keep));
  // The child, a grandchild never used before, and the root itself.
  EXPECT_EQ(store->takeUses(StateStore::UseRequest{"child", 1, 2, keep, {"root"}}).error().code,
            state_errc::kGrantRevoked);
  EXPECT_EQ(store->takeUses(StateStore::UseRequest{"grandchild", 1, 1, keep, {"root", "child"}}).error().code,
            state_errc::kGrantRevoked);
  EXPECT_EQ(store->takeUse("root", 5, keep).error().code, state_errc::kGrantRevoked);
  // An unrelated grant is unaffected, and so is the child's sibling chain under
  // another root; the revocation survives a restart.
  EXPECT_TRUE(store->takeUses(StateStore::UseRequest{"other", 1, 1, keep, {"other-root"}}));
  store.reset();
  store = reopen();
  EXPECT_EQ(store->takeUses(StateStore::UseRequest{"child", 1, 2, keep, {"root"}}).error().code,
            state_errc::kGrantRevoked);
}

}  // namespace
}  // namespace sealgate::appliance

namespace sealgate::appliance {
namespace {

TEST_F(SealedStateTest, TheAuditHeadRidesWithChangesAndCheckpointsAndSurvivesCompaction) {
  merkle::TreeHead first{3, {}};
  first.root[0] = 0xaa;
  merkle::TreeHead second{9, {}};
  second.root[31] = 0xbb;
  {
    auto s = init();
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->auditHead());
    s->anchorAuditHead(first);
    ASSERT_TRUE(s->takeUse("g", 3, later_));  // written with this change
  }
  {
    auto s = reopen();
    ASSERT_TRUE(s->auditHead());
    EXPECT_EQ(*s->auditHead(), first);
    s->anchorAuditHead(merkle::TreeHead{2, {}});  // older: ignored
    EXPECT_EQ(*s->auditHead(), first);
    s->anchorAuditHead(second);
    ASSERT_TRUE(s->checkpoint());  // no change at all: the checkpoint writes it
  }
  {
    auto s = reopen();
    EXPECT_EQ(*s->auditHead(), second);
    ASSERT_TRUE(s->compact());
  }
  auto s = reopen();
  EXPECT_EQ(*s->auditHead(), second);
}

}  // namespace
}  // namespace sealgate::appliance
