// The signed, tamper-evident audit log (issue 7; docs/AUDIT.md).
//
// Entries are single-line JSON events in `<dir>/entries.jsonl`, appended with
// group commit: concurrent appenders queue their events, one writer thread
// writes a batch and fdatasync()s it once, then acknowledges every event of the
// batch. An appender waits at most `appendTimeout`; a full disk, an I/O error or
// a stuck device gives AUDIT_UNAVAILABLE and the caller denies the operation.
//
// The leaf hashes (RFC 6962) stay in memory; checkpoints (C2SP tlog-checkpoint,
// signed in the HSM with sealgate-audit-es256, type 0x02) are appended to
// `<dir>/checkpoints.jsonl` every `checkpointEvery` entries, every
// `checkpointInterval`, on export and on shutdown. On open the tree is rebuilt
// and every stored checkpoint's root recomputed: a log that disagrees with a
// checkpoint it signed refuses to open (AUDIT_LOG_CORRUPT), so the log never
// signs a checkpoint inconsistent with an earlier one. A torn final record (no
// newline: never acknowledged, as acknowledgement follows the fdatasync of the
// whole line) is truncated.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/encoding.h"
#include "core/interfaces/audit_sink.h"
#include "core/merkle.h"

namespace sealgate::appliance {

// Signs checkpoint notes: DER ECDSA P-256 over SHA-256(text), inside the HSM
// (keys/signing_keys.h makes one over the key store).
struct CheckpointSigner {
  std::function<Result<Bytes>(const std::string& text)> sign;
  Bytes spkiDer;         // the public half (key ID = SHA-256(spkiDer)[:4])
  std::string keyLabel;  // e.g. sealgate-audit-es256-v1 (for status output)
};

struct AuditLogOptions {
  std::string dir;
  std::string origin = "sealgate";  // checkpoint origin and note key name
  std::uint64_t checkpointEvery = 1000;
  std::chrono::milliseconds checkpointInterval{10000};
  std::chrono::milliseconds appendTimeout{2000};
  // Truncation (docs/AUDIT.md): the tree head the sealed state anchored. A log
  // with fewer entries, or whose first `size` entries have another root, refuses
  // to open with AUDIT_LOG_ROLLBACK. Unset: no anchor to check against.
  std::optional<merkle::TreeHead> anchor;
  // Told every new durable tree head (after its batch is synced), from the writer
  // thread without the log's lock held; the daemon anchors it in the state.
  std::function<void(const merkle::TreeHead&)> onDurableHead;
  // Told after each batch is written and synced (or fails): how long the write
  // and fdatasync took, how many entries it carried, whether they are durable.
  // From the writer thread, without the log's lock held.
  std::function<void(double seconds, std::size_t entries, bool ok)> onBatch;
};

// The audit log's own error codes.
namespace audit_errc {
inline constexpr ErrorCode kUnavailable = ErrorCode::AuditUnavailable;
inline constexpr ErrorCode kCorrupt = ErrorCode::AuditLogCorrupt;
inline constexpr ErrorCode kRollback = ErrorCode::AuditLogRollback;
}  // namespace audit_errc

struct StoredCheckpoint {
  std::uint64_t size = 0;
  std::string note;  // the signed note
};

// An export bundle and the number of entries it holds (its tree_size).
struct AuditExport {
  std::string bundle;
  std::uint64_t treeSize = 0;
};

class MerkleAuditLog : public AuditSink {
 public:
  static Result<std::unique_ptr<MerkleAuditLog>> open(const AuditLogOptions& options, CheckpointSigner signer);
  ~MerkleAuditLog() override;  // signs a final checkpoint when entries are uncovered

  // `eventJson` is one JSON object. The log adds schema_version, audit_index,
  // event_id and time (unless present) and sampled_out when events were sampled
  // out since the last one. Returns the audit_index. An event that carries a live
  // secret value (core/egress_guard.h) is refused with EGRESS_BLOCKED, unwritten.
  Result<std::uint64_t> append(const std::string& eventJson) override;
  bool healthy() const override;
  void sampledOut() override;

  std::uint64_t size() const;
  // Entries [from, from+count) as stored on disk (read back from the file).
  Result<std::vector<std::string>> read(std::uint64_t from, std::uint64_t count) const;
  // Blocks until size() > index or the timeout passes; returns size().
  std::uint64_t waitForSize(std::uint64_t index, std::chrono::milliseconds timeout) const;
  std::vector<merkle::Hash> leafHashes(std::uint64_t size) const;
  std::vector<StoredCheckpoint> checkpoints() const;
  // The newest signed checkpoint: how many entries it covers and when it was
  // signed (the log's open, for one signed before this process started).
  struct CheckpointState {
    std::uint64_t covered = 0;
    std::chrono::system_clock::time_point signedAt;
  };
  CheckpointState checkpointState() const;
  // A signed checkpoint for the current size (signing one if needed).
  Result<StoredCheckpoint> checkpointNow();
  Result<std::vector<merkle::Hash>> inclusionProof(std::uint64_t index, std::uint64_t treeSize) const;
  Result<std::vector<merkle::Hash>> consistencyProof(std::uint64_t first, std::uint64_t second) const;
  // The export bundle (core/audit_bundle.h format) for the current size.
  Result<AuditExport> exportWithSize();
  Result<std::string> exportBundle();

  // Batches written (one fdatasync each) since open: size() / batches() is the
  // group-commit factor.
  std::uint64_t batches() const;
  // The key that signs checkpoints now.
  CheckpointSigner signer() const;
  // Key rotation (docs/AUDIT.md, "Key rotation"): the current key signs a
  // checkpoint covering every entry so far, then `next` signs one of the same
  // size (both keys vouch for the handover point) and every checkpoint after it.
  // Returns the handover checkpoint by `next`.
  Result<StoredCheckpoint> rotateSigner(CheckpointSigner next);
  const AuditLogOptions& options() const { return options_; }

 private:
  struct Pending {
    std::string event;
    bool done = false;
    bool failed = false;
    std::uint64_t index = 0;
    std::string error;
  };
  MerkleAuditLog() = default;
  void writerLoop();
  // The writer's steps, called with `lock` (on mu_) held; those given the lock
  // release it around the write, the signing and onDurableHead.
  // Takes the whole queue as one batch, writes and syncs it, then acknowledges
  // every event of it or fails every one.
  void writeQueuedLocked(std::unique_lock<std::mutex>& lock);
  void failBatchLocked(const std::vector<std::shared_ptr<Pending>>& batch, const std::string& why);
  // The synced batch added to the tree and the offsets, its events
  // acknowledged, onDurableHead told.
  void commitBatchLocked(std::unique_lock<std::mutex>& lock, const std::vector<std::shared_ptr<Pending>>& batch,
                         const std::vector<std::string>& lines, std::uint64_t sampledOutTaken);
  // Signs a checkpoint when one was requested, or when uncovered entries make
  // one due (checkpointEvery, checkpointInterval, shutdown).
  void checkpointIfDueLocked(std::unique_lock<std::mutex>& lock);
  // Writes and syncs one batch; called by the writer without mu_ held.
  Result<void> writeBatch(const std::string& bytes, bool& fatal);
  Result<void> signCheckpointLocked(std::unique_lock<std::mutex>& lock);

  AuditLogOptions options_;
  CheckpointSigner signer_;       // under mu_; the writer signs with a copy, unlocked
  bool signerChanged_ = false;    // under mu_: the current size wants a checkpoint by the new key
  bool checkpointsTorn_ = false;  // under mu_: a partial checkpoint record could not be removed
  int fd_ = -1;
  int checkpointFd_ = -1;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;      // writer wakeups
  mutable std::condition_variable doneCv_;  // appenders and readers
  std::deque<std::shared_ptr<Pending>> queue_;
  merkle::Tree tree_;
  std::vector<std::uint64_t> offsets_;  // file offset of each entry; offsets_[size] = end
  std::vector<StoredCheckpoint> checkpoints_;
  std::chrono::system_clock::time_point lastSignedAt_{};
  std::uint64_t sampledOut_ = 0;
  std::uint64_t batches_ = 0;
  bool failed_ = false;  // an fdatasync failed: the page cache state is unknown, stop
  bool lastWriteFailed_ = false;
  bool stopping_ = false;
  bool checkpointRequested_ = false;
  std::uint64_t checkpointRequests_ = 0, checkpointsDone_ = 0;
  std::chrono::steady_clock::time_point lastCheckpoint_{};
  std::thread writer_;
};

}  // namespace sealgate::appliance
