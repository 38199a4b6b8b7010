// SealedStateStore: the default, local StateStore. A journal of encrypted,
// authenticated records with an in-memory index (docs/DESIGN.md, "State").
//
// Files in the state folder:
//   datakey.sealed  the journal's data key, sealed by the DataKeySealer (HSM
//                   sealgate-kek, and the TPM when configured)
//   journal         header (magic, instance id, generation), then records
//
// Each record is XChaCha20-Poly1305 (libsodium) under a key derived from the data
// key, with the header and the record's sequence number as associated data: a
// flipped bit, a record cut out, records swapped or spliced in from another
// appliance all fail authentication, and the store refuses to open
// (STATE_TAMPERED). Only an incomplete final record — what a crash in the middle
// of an append leaves, and which was never acknowledged — is dropped, and that is
// logged.
//
// Writes are group-committed: concurrent callers' changes are sealed into one
// record and made durable by one fdatasync, and every caller returns only once
// its change is durable (bounded wait, else STATE_UNAVAILABLE).
//
// Rollback: a monotonic counter (the TPM NV counter) anchors the checkpoint
// value. A checkpoint record carrying N+1 is made durable first, then the counter
// is incremented (docs/DEVELOPMENT.md, "TPM counters"); on open the last checkpoint must equal the
// counter (or counter+1: finish the increment), else STATE_ROLLBACK. Checkpoints
// happen at open, at compaction (which rewrites the journal as a snapshot of the
// live entries, a new generation) and every checkpoint interval with writes —
// never per request. A copy of the state older than the last checkpoint is detected;
// changes since the last checkpoint are protected by the journal's integrity,
// not by the counter (docs/STATE.md).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "core/interfaces/data_key_sealer.h"
#include "core/interfaces/state_store.h"
#include "core/merkle.h"
#include "core/secret.h"

namespace sealgate::appliance {

// The rollback anchor: a counter that only goes up and lives outside the state
// folder (a TPM NV counter).
class MonotonicCounter {
 public:
  virtual ~MonotonicCounter() = default;
  virtual Result<std::uint64_t> read() = 0;
  virtual Result<std::uint64_t> increment() = 0;
  virtual std::string describe() const = 0;
};

// Makes the counter once the data key is open: its auth value is derived from
// the data key. `define` is true at first initialisation only.
using CounterFactory = std::function<Result<std::unique_ptr<MonotonicCounter>>(const Secret& auth, bool define)>;

struct SealedStateOptions {
  std::string dir;
  std::chrono::milliseconds commitWait{2000};           // bound on waiting for the group commit
  std::chrono::milliseconds checkpointInterval{60000};  // counter increments at most this often
  std::size_t maxLiveEntries = 20'000'000;              // memory bound: beyond it, STATE_FULL
  std::uint64_t compactMinBytes = 64ull << 20;          // compact when the journal is larger than this
  // Told after each group commit (sealing, write and fdatasync of one journal
  // record): how long it took, how many changes it carried, whether it is durable.
  // Called by the committing thread without the store's lock held.
  std::function<void(double seconds, std::size_t changes, bool ok)> onCommit;
  // The store's clock (tests step it; the daemon uses the system clock).
  std::function<StateStore::Clock::time_point()> clock = [] { return StateStore::Clock::now(); };
};

class SealedStateStore : public StateStore {
 public:
  // First set-up of `options.dir`: a new data key, sealed; the counter defined;
  // an empty journal. Refuses (STATE_EXISTS) when state is already there.
  // `counters` is null when rollback protection is explicitly off.
  static Result<void> initialize(const SealedStateOptions& options, DataKeySealer& sealer,
                                 const CounterFactory& counters);
  // Opens existing state; never creates it (a missing file is STATE_MISSING).
  static Result<std::unique_ptr<SealedStateStore>> open(const SealedStateOptions& options, DataKeySealer& sealer,
                                                        const CounterFactory& counters);
  ~SealedStateStore() override;

  Result<bool> rememberOnce(const std::string& id, Clock::time_point expiresAt) override;
  using StateStore::takeUses;
  Result<std::uint32_t> takeUses(const UseRequest& use) override;
  Result<void> revoke(const std::string& grantId, Clock::time_point expiresAt) override;
  std::vector<GrantState> grants() const override;
  Result<void> putLease(const Lease& lease) override;
  Result<void> deleteLease(const std::string& leaseId) override;
  std::vector<Lease> leases() const override;
  Result<void> putRecord(const Record& record) override;
  Result<void> deleteRecord(const std::string& kind, const std::string& id) override;
  std::vector<Record> records(const std::string& kind) const override;
  Clock::time_point grantsIssuedFrom() const override;

  // The audit log's latest durable tree head, anchored in the state (docs/AUDIT.md,
  // "Truncation"): kept in memory and written with the next state change or
  // checkpoint, whichever comes first. Heads only grow; an older one is ignored.
  void anchorAuditHead(const merkle::TreeHead& head);
  // The anchored head as of the last open or anchor; nullopt when none yet.
  std::optional<merkle::TreeHead> auditHead() const;

  // Writes a checkpoint now and advances the counter (also done by the
  // background thread every checkpoint interval, and at close).
  Result<void> checkpoint();
  // Rewrites the journal as a snapshot of the live entries (a new generation).
  Result<void> compact();

  struct Status {
    std::string instanceId;
    std::uint64_t generation = 0;
    std::uint64_t checkpoint = 0;  // the last durable checkpoint value
    bool rollbackProtection = false;
    std::string anchor;          // e.g. "tpm-nv:0x01500020", or "none"
    bool counterBehind = false;  // a checkpoint whose increment has not happened yet
    std::size_t jtis = 0, grants = 0, leases = 0, featureRecords = 0;  // featureRecords: putRecord's
    std::int64_t prunedThroughMs = 0;                                  // the pruning horizon (StateStore::UseRequest)
    std::uint64_t journalBytes = 0;
    std::uint64_t records = 0;        // records in the current journal file
    std::uint64_t tornTailBytes = 0;  // bytes of an incomplete final record dropped at open
    bool failed = false;
  };
  Status status() const;
  bool healthy() const;

 private:
  struct Key16 {
    std::array<std::uint8_t, 16> b;
    bool operator==(const Key16& o) const { return b == o.b; }
  };
  struct Key16Hash {
    std::size_t operator()(const Key16& k) const;
  };
  friend class StateReplay;
  SealedStateStore() = default;
  Key16 keyOf(const std::string& id) const;
  std::int64_t nowMs() const;
  void pruneLocked(std::int64_t nowMs, bool force);
  Result<void> admitLocked(std::int64_t nowMs);
  std::uint64_t liveBytesEstimateLocked() const;
  // Appends `op` to the batch being assembled and waits until it is durable.
  Result<void> commitLocked(std::unique_lock<std::mutex>& lock, const std::string& op);
  Result<void> rewriteLocked(std::uint64_t checkpointValue);
  void background();
  // The steps of open(), in order.
  Result<void> unsealKeys(const Bytes& sealedDataKey, DataKeySealer& sealer, const CounterFactory& counters,
                          std::optional<std::uint64_t>& tpmValue);
  struct Replayed {
    std::size_t bytes = 0;  // of the journal, up to a torn tail
    std::uint64_t records = 0;
    std::uint64_t checkpoint = 0;
  };
  Result<Replayed> replayJournal(std::string_view journal);
  Result<void> checkAgainstCounter(std::uint64_t checkpoint, std::optional<std::uint64_t> tpmValue);
  Result<void> continueJournal(const std::string& path, const Replayed& replayed);

  SealedStateOptions options_;
  std::unique_ptr<MonotonicCounter> counter_;
  Secret journalKey_;
  Secret idKey_;
  std::array<std::uint8_t, 16> instance_{};
  std::uint64_t generation_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int fd_ = -1;
  std::string pending_;             // plaintext ops of the batch being assembled
  std::size_t pendingChanges_ = 0;  // how many changes pending_ holds
  std::uint64_t pendingBatch_ = 1;  // id of that batch
  std::uint64_t durableBatch_ = 0;  // every batch up to this one is durable
  bool flushing_ = false;
  std::uint64_t nextSeq_ = 0;
  std::uint64_t journalBytes_ = 0;
  std::optional<Error> failed_;
  std::uint64_t checkpoint_ = 0;
  bool counterBehind_ = false;
  bool dirty_ = false;  // changes since the last checkpoint
  std::uint64_t tornTailBytes_ = 0;
  std::int64_t grantsFromMs_ = 0;  // set at initialisation, kept in every snapshot

  struct GrantEntry {
    std::uint32_t remaining = 0;
    bool revoked = false;
    GrantBinding binding = GrantBinding::Unknown;
    std::int64_t expMs = 0;
  };
  std::unordered_map<Key16, std::int64_t, Key16Hash> jtis_;
  std::unordered_map<std::string, GrantEntry> grants_;
  std::map<std::string, Lease> leases_;
  std::map<std::pair<std::string, std::string>, std::string> records_;  // (kind, id) -> data
  std::map<std::int64_t, std::vector<Key16>> jtiExpiry_;                // by expiry second
  std::map<std::int64_t, std::vector<std::string>> grantExpiry_;
  std::int64_t lastPruneMs_ = 0;
  // The pruning horizon: entries expiring up to here may have been dropped, so an
  // unknown id or grant whose window ends by then is refused. Only moves forward;
  // kept in every snapshot.
  std::int64_t prunedThroughMs_ = 0;
  std::optional<merkle::TreeHead> auditHead_;
  bool auditHeadUnwritten_ = false;  // auditHead_ is newer than what the journal holds

  std::mutex checkpointMu_;  // one checkpoint or compaction at a time
  std::atomic<bool> stopping_{false};
  std::mutex stopMu_;
  std::condition_variable stopCv_;
  std::thread background_;
};

}  // namespace sealgate::appliance
