#include "appliance/state/sealed_state_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "appliance/telemetry/logging.h"
#include "core/encoding.h"
#include "core/file_io.h"
#include "core/state_journal.h"

namespace sealgate::appliance {
namespace fs = std::filesystem;
using namespace sealgate::journal;
namespace {

constexpr std::size_t kSnapshotRecordBytes = 1u << 20;  // plaintext per snapshot record
constexpr const char* kKdfContext = "sgstate1";
constexpr const char* kDataKeyFile = "datakey.sealed";
constexpr const char* kJournalFile = "journal";

enum SubKey : std::uint64_t { kSubJournal = 1, kSubIdHash = 2, kSubCounterAuth = 3 };

Error stateError(ErrorCode code, const std::string& message) { return makeError(code, message); }
Error ioError(const std::string& what) {
  return stateError(state_errc::kUnavailable, what + ": " + std::strerror(errno));
}

std::int64_t toMs(StateStore::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
StateStore::Clock::time_point fromMs(std::int64_t ms) {
  return StateStore::Clock::time_point(std::chrono::milliseconds(ms));
}

// core/file_io.h with the store's error code.
Result<void> writeAll(int fd, std::string_view data) {
  auto w = sealgate::writeAll(fd, data, state_errc::kUnavailable);
  if (!w) {
    Error e = std::move(w).takeError();
    e.message = std::string("the state journal cannot be written: ") + std::strerror(static_cast<int>(e.native));
    return e;
  }
  return Ok{};
}

Result<void> syncDir(const fs::path& dir) { return sealgate::syncDir(dir, state_errc::kUnavailable); }

// tmp, fsync, rename, fsync the folder: the file is either old or new, whole.
Result<void> writeFileAtomically(const fs::path& path, std::string_view data) {
  return sealgate::writeFileAtomically(path, data, 0600, state_errc::kUnavailable);
}

Result<std::string> readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return stateError(state_errc::kMissing, "the state file " + path.filename().string() + " is missing");
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return ioError("cannot size " + path.string());
  std::string data(size, '\0');
  if (!in.read(data.data(), static_cast<std::streamsize>(size))) return ioError("cannot read " + path.string());
  return data;
}

std::string contextOf(const std::array<std::uint8_t, 16>& instance) {
  return "sealgate/state/v1|" + hexLower(instance);
}

Result<Secret> deriveKey(const Secret& dataKey, SubKey id) {
  auto key = Secret::allocate(32);
  if (!key) return key;
  crypto_kdf_derive_from_key(key->exposeSecretBytesMutable().data(), 32, id, kKdfContext,
                             dataKey.exposeSecretBytes().data());
  return key;
}

// Maps an error from unsealing the data key to what the operator must know.
Error unsealFailure(Error e) {
  if (e.code == ErrorCode::HsmDecryptFailed || e.code == ErrorCode::SealedKeyInvalid) {
    e.message = "the state's data key does not open with this HSM (tampered, or from another appliance): " + e.message;
    e.code = state_errc::kTampered;
  }
  return e;
}

}  // namespace

std::size_t SealedStateStore::Key16Hash::operator()(const Key16& k) const {
  std::size_t h;
  std::memcpy(&h, k.b.data(), sizeof h);  // already a keyed hash: uniformly distributed
  return h;
}

SealedStateStore::Key16 SealedStateStore::keyOf(const std::string& id) const {
  Key16 k{};
  crypto_generichash(k.b.data(), k.b.size(), reinterpret_cast<const unsigned char*>(id.data()), id.size(),
                     idKey_.exposeSecretBytes().data(), idKey_.size());
  return k;
}

std::int64_t SealedStateStore::nowMs() const { return toMs(options_.clock()); }

Result<void> SealedStateStore::initialize(const SealedStateOptions& options, DataKeySealer& sealer,
                                          const CounterFactory& counters) {
  const fs::path dir(options.dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return stateError(state_errc::kUnavailable, "cannot create " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  if (fs::exists(dir / kDataKeyFile) || fs::exists(dir / kJournalFile)) {
    return stateError(ErrorCode::StateExists, "state already exists in " + dir.string() + "; it is never overwritten");
  }
  std::array<std::uint8_t, 16> instance{};
  randombytes_buf(instance.data(), instance.size());
  SEALGATE_ASSIGN_OR_RETURN(auto dataKey, Secret::allocate(32));
  randombytes_buf(dataKey.exposeSecretBytesMutable().data(), 32);
  SEALGATE_ASSIGN_OR_RETURN(auto blob, sealer.seal(dataKey, contextOf(instance)));

  std::uint64_t checkpoint = 1;
  std::unique_ptr<MonotonicCounter> counter;
  if (counters) {
    SEALGATE_ASSIGN_OR_RETURN(auto auth, deriveKey(dataKey, kSubCounterAuth));
    SEALGATE_ASSIGN_OR_RETURN(auto made, counters(auth, /*define=*/true));
    counter = std::move(made);
    SEALGATE_ASSIGN_OR_RETURN(auto value, counter->read());
    checkpoint = value + 1;
  }
  SEALGATE_ASSIGN_OR_RETURN(auto journalKey, deriveKey(dataKey, kSubJournal));
  const std::string hdr = header(instance, 1);
  // Grants carry whole-second iat: the cut-off is the next whole second, and
  // initialisation waits for it, so every grant issued before this state has
  // iat < cut-off and every grant issued after it has iat >= cut-off.
  const std::int64_t grantsFromMs = (toMs(Clock::now()) / 1000 + 1) * 1000;
  std::this_thread::sleep_until(fromMs(grantsFromMs));
  std::string first = opU64(kOpOpen, checkpoint);
  first += opU64(kOpGrantsFrom, static_cast<std::uint64_t>(grantsFromMs));
  const std::string journal = hdr + sealRecord(journalKey, hdr, 0, first);
  SEALGATE_TRY(writeFileAtomically(dir / kDataKeyFile,
                                   std::string_view(reinterpret_cast<const char*>(blob.data()), blob.size())));
  SEALGATE_TRY(writeFileAtomically(dir / kJournalFile, journal));
  if (counter) {
    SEALGATE_TRY(counter->increment());
  }
  return Ok{};
}

// Applies decoded journal operations to the in-memory index at open.
class StateReplay : public OpVisitor {
 public:
  StateReplay(SealedStateStore& s, std::int64_t now) : s_(s), now_(now) {}
  std::int64_t now() const { return now_; }
  std::optional<std::uint64_t> checkpoint;

  void onU64(Op type, std::uint64_t value) override {
    if (type == kOpGrantsFrom) {
      s_.grantsFromMs_ = static_cast<std::int64_t>(value);
    } else if (type == kOpPrunedThrough) {
      s_.prunedThroughMs_ = std::max(s_.prunedThroughMs_, static_cast<std::int64_t>(value));
    } else {
      checkpoint = value;
    }
  }
  void onJti(const std::array<std::uint8_t, 16>& key, std::int64_t expMs) override {
    if (expMs <= now_) return;
    const SealedStateStore::Key16 k{key};
    s_.jtis_[k] = expMs;
    s_.jtiExpiry_[expMs / 1000].push_back(k);
  }
  void onGrant(std::string id, std::uint32_t remaining, bool revoked, std::int64_t expMs,
               std::uint8_t binding) override {
    if (expMs <= now_) {
      s_.grants_.erase(id);
      return;
    }
    s_.grantExpiry_[expMs / 1000].push_back(id);
    s_.grants_[std::move(id)] =
        SealedStateStore::GrantEntry{remaining, revoked, static_cast<StateStore::GrantBinding>(binding), expMs};
  }
  void onLeasePut(std::string id, std::string data, std::int64_t expMs) override {
    s_.leases_[id] = StateStore::Lease{id, std::move(data), fromMs(expMs)};
  }
  void onLeaseDel(std::string id) override { s_.leases_.erase(id); }
  void onRecordPut(std::string kind, std::string id, std::string data) override {
    s_.records_[{std::move(kind), std::move(id)}] = std::move(data);
  }
  void onRecordDel(std::string kind, std::string id) override { s_.records_.erase({std::move(kind), std::move(id)}); }
  void onAuditHead(std::uint64_t size, const std::array<std::uint8_t, 32>& root) override {
    s_.auditHead_ = merkle::TreeHead{size, root};
  }

 private:
  SealedStateStore& s_;
  std::int64_t now_;
};

Result<std::unique_ptr<SealedStateStore>> SealedStateStore::open(const SealedStateOptions& options,
                                                                 DataKeySealer& sealer,
                                                                 const CounterFactory& counters) {
  std::unique_ptr<SealedStateStore> s(new SealedStateStore());
  s->options_ = options;
  const fs::path dir(options.dir);
  if (!fs::is_directory(dir)) {
    return stateError(
        state_errc::kMissing,
        "the state folder " + dir.string() + " is missing; it is never created silently (see `sealgate state init`)");
  }
  SEALGATE_ASSIGN_OR_RETURN(auto blob, readFile(dir / kDataKeyFile));
  SEALGATE_ASSIGN_OR_RETURN(auto journal, readFile(dir / kJournalFile));
  std::error_code ec;
  fs::remove(dir / (std::string(kJournalFile) + ".tmp"), ec);  // an unfinished rewrite: the journal is intact

  SEALGATE_ASSIGN_OR_RETURN(auto parsed, parseHeader(journal));
  s->instance_ = parsed.instance;
  s->generation_ = parsed.generation;
  std::optional<std::uint64_t> tpmValue;
  SEALGATE_TRY(s->unsealKeys(Bytes(blob.begin(), blob.end()), sealer, counters, tpmValue));
  SEALGATE_ASSIGN_OR_RETURN(auto replayed, s->replayJournal(journal));
  SEALGATE_TRY(s->checkAgainstCounter(replayed.checkpoint, tpmValue));
  s->checkpoint_ = replayed.checkpoint;
  SEALGATE_TRY(s->continueJournal((dir / kJournalFile).string(), replayed));
  if (s->counter_) {
    SEALGATE_TRY(s->counter_->increment());
  }
  s->background_ = std::thread([p = s.get()] { p->background(); });
  return s;
}

// The data key (HSM, and TPM when sealed to it), the keys derived from it, and the
// TPM counter's value when the state is anchored to one.
Result<void> SealedStateStore::unsealKeys(const Bytes& sealedDataKey, DataKeySealer& sealer,
                                          const CounterFactory& counters, std::optional<std::uint64_t>& tpmValue) {
  auto dataKey = sealer.unseal(sealedDataKey, contextOf(instance_));
  if (!dataKey) return unsealFailure(std::move(dataKey).takeError());
  auto journalKey = deriveKey(*dataKey, kSubJournal);
  auto idKey = deriveKey(*dataKey, kSubIdHash);
  auto counterAuth = deriveKey(*dataKey, kSubCounterAuth);
  if (!journalKey || !idKey || !counterAuth) return stateError(state_errc::kUnavailable, "cannot derive state keys");
  journalKey_ = std::move(*journalKey);
  idKey_ = std::move(*idKey);
  if (counters) {
    SEALGATE_ASSIGN_OR_RETURN(auto made, counters(*counterAuth, /*define=*/false));
    counter_ = std::move(made);
    SEALGATE_ASSIGN_OR_RETURN(auto value, counter_->read());
    tpmValue = value;
  }
  return Ok{};
}

// Replays every record; the first must open the file with its checkpoint. An
// incomplete final record (an append a crash interrupted, never acknowledged)
// ends the replay and is reported.
Result<SealedStateStore::Replayed> SealedStateStore::replayJournal(std::string_view journal) {
  const std::string hdr(journal.substr(0, kHeaderBytes));
  StateReplay replay(*this, nowMs());
  std::size_t at = kHeaderBytes;
  std::uint64_t seq = 0;
  std::string ops;
  for (;;) {
    const std::string_view rest = journal.substr(at);
    const Frame frame = nextFrame(rest);
    if (frame.kind == Frame::Kind::End) break;
    if (frame.kind == Frame::Kind::Torn) {
      tornTailBytes_ = frame.size;
      break;
    }
    if (frame.kind == Frame::Kind::Corrupt) {
      return stateError(state_errc::kTampered, "state journal record " + std::to_string(seq) + " has a corrupt frame");
    }
    if (!openRecord(journalKey_, hdr, seq, rest, frame, ops)) {
      return stateError(state_errc::kTampered, "state journal record " + std::to_string(seq) +
                                                   " fails authentication (modified, moved or from another appliance)");
    }
    if (seq == 0 && (ops.empty() || static_cast<std::uint8_t>(ops[0]) != kOpOpen)) {
      return stateError(state_errc::kTampered, "the state journal does not start with its opening record");
    }
    if (!decodeOps(ops, replay)) {
      return stateError(state_errc::kTampered, "state journal record " + std::to_string(seq) + " is undecodable");
    }
    at += frame.size;
    ++seq;
  }
  secureWipe(ops.data(), ops.size());
  // The replay left out what had expired by now: that is pruned.
  prunedThroughMs_ = std::max(prunedThroughMs_, replay.now());
  if (!replay.checkpoint) return stateError(state_errc::kTampered, "the state journal has no opening record");
  if (tornTailBytes_ > 0) {
    logEvent(LogLevel::Warn, "state_torn_tail_dropped",
             {{"bytes", tornTailBytes_},
              {"record", seq},
              {"why", "an append that a crash interrupted before it was acknowledged"}});
  }
  return Replayed{at, seq, *replay.checkpoint};
}

// Rollback check against the counter: file == counter, or counter + 1 when the
// increment after the last checkpoint did not happen (it is made now).
Result<void> SealedStateStore::checkAgainstCounter(std::uint64_t checkpoint, std::optional<std::uint64_t> tpmValue) {
  if (!tpmValue) return Ok{};
  if (checkpoint < *tpmValue) {
    return stateError(state_errc::kRollback, "the state is older than its TPM counter (checkpoint " +
                                                 std::to_string(checkpoint) + ", counter " + std::to_string(*tpmValue) +
                                                 "): an old copy was restored");
  }
  if (checkpoint > *tpmValue + 1) {
    return stateError(state_errc::kTampered, "the state claims checkpoint " + std::to_string(checkpoint) +
                                                 " but the TPM counter is " + std::to_string(*tpmValue));
  }
  if (checkpoint == *tpmValue + 1) {
    SEALGATE_TRY(counter_->increment());
  }
  return Ok{};
}

// Continues the journal: drops an incomplete final record, appends a checkpoint
// with the next value (the caller then advances the counter). A journal much
// larger than its live entries is rewritten as a snapshot instead.
Result<void> SealedStateStore::continueJournal(const std::string& path, const Replayed& replayed) {
  if (tornTailBytes_ > 0) {
    if (::truncate(path.c_str(), static_cast<off_t>(replayed.bytes)) != 0) return ioError("cannot drop the torn tail");
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) return ioError("cannot open the state journal for appending");
  if (tornTailBytes_ > 0 && ::fsync(fd_) != 0) return ioError("cannot sync the state journal");
  nextSeq_ = replayed.records;
  journalBytes_ = replayed.bytes;
  std::unique_lock lock(mu_);
  const std::uint64_t next = checkpoint_ + 1;
  if (journalBytes_ > options_.compactMinBytes && journalBytes_ > 2 * liveBytesEstimateLocked()) {
    return rewriteLocked(next);
  }
  SEALGATE_TRY(commitLocked(lock, opU64(kOpCheckpoint, next)));
  checkpoint_ = next;
  dirty_ = false;
  return Ok{};
}

SealedStateStore::~SealedStateStore() {
  // A destructor must not throw: a final checkpoint that throws (out of memory)
  // is skipped like one that fails; the next open replays the journal either way.
  try {
    if (background_.joinable()) {
      {
        std::lock_guard lock(stopMu_);
        stopping_ = true;
      }
      stopCv_.notify_all();
      background_.join();
      bool dirty;
      {
        std::lock_guard lock(mu_);
        dirty = dirty_ && !failed_;
      }
      if (dirty) {
        if (auto r = checkpoint(); !r)
          logEvent(LogLevel::Warn, "state_checkpoint_failed", {{"error", r.error().describe()}});
      }
    }
  } catch (...) {  // NOLINT(bugprone-empty-catch): nothing more can be done while destroying
  }
  if (fd_ >= 0) ::close(fd_);
}

void SealedStateStore::background() {
  std::unique_lock stop(stopMu_);
  while (!stopping_) {
    stopCv_.wait_for(stop, options_.checkpointInterval, [this] { return stopping_.load(); });
    if (stopping_) break;
    stop.unlock();
    bool dirty, compactNow;
    {
      std::lock_guard lock(mu_);
      dirty = dirty_ && !failed_;
      compactNow =
          !failed_ && journalBytes_ > options_.compactMinBytes && journalBytes_ > 2 * liveBytesEstimateLocked();
    }
    if (compactNow) {
      if (auto r = compact(); !r)
        logEvent(LogLevel::Error, "state_compaction_failed", {{"error", r.error().describe()}});
    } else if (dirty) {
      if (auto r = checkpoint(); !r)
        logEvent(LogLevel::Error, "state_checkpoint_failed", {{"error", r.error().describe()}});
    }
    stop.lock();
  }
}

Result<void> SealedStateStore::rewriteLocked(std::uint64_t checkpointValue) {
  const fs::path dir(options_.dir);
  const std::uint64_t generation = generation_ + 1;
  const std::string hdr = header(instance_, generation);
  std::string file = hdr;
  std::uint64_t seq = 0;
  std::string batch = opU64(kOpOpen, checkpointValue);
  batch += opU64(kOpGrantsFrom, static_cast<std::uint64_t>(grantsFromMs_));
  // What the snapshot leaves out (expired entries) is pruned: the horizon moves
  // to now first, and the snapshot carries it.
  const std::int64_t now = nowMs();
  prunedThroughMs_ = std::max(prunedThroughMs_, now);
  batch += opU64(kOpPrunedThrough, static_cast<std::uint64_t>(prunedThroughMs_));
  auto flushBatch = [&] {
    file += sealRecord(journalKey_, hdr, seq++, batch);
    secureWipe(batch.data(), batch.size());
    batch.clear();
  };
  auto add = [&](const std::string& op) {
    if (batch.size() + op.size() > kSnapshotRecordBytes) flushBatch();
    batch += op;
  };
  for (const auto& [k, exp] : jtis_) {
    if (exp > now) add(opJti(k.b, exp));
  }
  for (const auto& [id, g] : grants_) {
    if (g.expMs > now) add(opGrant(id, g.remaining, g.revoked, g.expMs, static_cast<std::uint8_t>(g.binding)));
  }
  for (const auto& [id, l] : leases_) add(opLeasePut(id, l.dataJson, toMs(l.expiresAt)));
  for (const auto& [key, data] : records_) add(opRecordPut(key.first, key.second, data));
  if (auditHead_) add(opAuditHead(auditHead_->size, auditHead_->root));
  flushBatch();
  // The new generation goes to a temporary file first: until the rename, a
  // failure leaves the current journal in use and intact.
  // Not writeFileAtomically: the new file's descriptor (opened for appending)
  // stays open as the journal's after the rename, and a failure after the
  // rename stops the store.
  const fs::path path = dir / kJournalFile;
  const fs::path tmp = atomicTmpPath(path);
  ::unlink(tmp.c_str());  // a stale one from a crash
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return ioError("cannot create " + tmp.string());
  auto written = writeAll(fd.get(), file);
  if (written && ::fsync(fd.get()) != 0) written = ioError("cannot sync " + tmp.string());
  if (written && ::rename(tmp.c_str(), path.c_str()) != 0) written = ioError("cannot rename " + tmp.string());
  if (!written) {
    fd.reset();
    ::unlink(tmp.c_str());
    return written;
  }
  // Renamed: the old descriptor now points at an unlinked file, so any failure
  // from here on must stop the store rather than let appends go nowhere.
  if (auto synced = syncDir(dir); !synced) {
    failed_ = synced.error();
    return *failed_;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd.release();
  generation_ = generation;
  nextSeq_ = seq;
  journalBytes_ = file.size();
  checkpoint_ = checkpointValue;
  // Everything in memory is in the snapshot: pending changes are durable now.
  pending_.clear();
  pendingChanges_ = 0;
  auditHeadUnwritten_ = false;  // the snapshot holds it
  durableBatch_ = pendingBatch_++;
  dirty_ = false;
  cv_.notify_all();
  return Ok{};
}

Result<void> SealedStateStore::commitLocked(std::unique_lock<std::mutex>& lock, const std::string& op) {
  if (failed_) return *failed_;
  pending_ += op;
  ++pendingChanges_;
  if (auditHeadUnwritten_) {  // rides along with this change (StateStore docs: anchorAuditHead)
    pending_ += opAuditHead(auditHead_->size, auditHead_->root);
    auditHeadUnwritten_ = false;
  }
  dirty_ = true;
  const std::uint64_t mine = pendingBatch_;
  const auto deadline = std::chrono::steady_clock::now() + options_.commitWait;
  while (durableBatch_ < mine) {
    if (failed_) return *failed_;
    if (!flushing_) {
      // Leader: seal and sync the whole batch assembled so far, lock released.
      flushing_ = true;
      const std::uint64_t batch = pendingBatch_++;
      std::string plaintext = std::move(pending_);
      pending_.clear();
      const std::size_t changes = std::exchange(pendingChanges_, 0);
      const std::uint64_t seq = nextSeq_++;
      const std::string hdr = header(instance_, generation_);
      const int fd = fd_;
      lock.unlock();
      const auto started = std::chrono::steady_clock::now();
      const std::string record = sealRecord(journalKey_, hdr, seq, plaintext);
      secureWipe(plaintext.data(), plaintext.size());
      auto written = writeAll(fd, record);
      if (written && ::fdatasync(fd) != 0) written = ioError("the state journal cannot be synced");
      if (options_.onCommit) {
        options_.onCommit(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), changes,
                          written.ok());
      }
      lock.lock();
      flushing_ = false;
      if (!written) {
        failed_ = written.error();
        logEvent(LogLevel::Error, "state_write_failed", {{"error", written.error().describe()}});
      } else {
        durableBatch_ = batch;
        journalBytes_ += record.size();
      }
      cv_.notify_all();
      if (failed_) return *failed_;
    } else if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && durableBatch_ < mine) {
      return stateError(state_errc::kUnavailable, "the state change was not durable within the commit wait");
    }
  }
  return Ok{};
}

void SealedStateStore::pruneLocked(std::int64_t now, bool force) {
  if (!force && now - lastPruneMs_ < 1000 && now >= lastPruneMs_) return;
  lastPruneMs_ = now;
  // The horizon moves before anything is dropped: whatever goes now is covered.
  prunedThroughMs_ = std::max(prunedThroughMs_, now);
  while (!jtiExpiry_.empty() && jtiExpiry_.begin()->first * 1000 + 999 < now) {
    for (const Key16& k : jtiExpiry_.begin()->second) {
      auto it = jtis_.find(k);
      if (it != jtis_.end() && it->second <= now) jtis_.erase(it);
    }
    jtiExpiry_.erase(jtiExpiry_.begin());
  }
  while (!grantExpiry_.empty() && grantExpiry_.begin()->first * 1000 + 999 < now) {
    for (const std::string& id : grantExpiry_.begin()->second) {
      auto it = grants_.find(id);
      if (it != grants_.end() && it->second.expMs <= now) grants_.erase(it);
    }
    grantExpiry_.erase(grantExpiry_.begin());
  }
}

std::uint64_t SealedStateStore::liveBytesEstimateLocked() const {
  // What a snapshot of the live entries takes, roughly (ops plus record overhead).
  return jtis_.size() * 26 + grants_.size() * 64 + (leases_.size() + records_.size()) * 256 + 4096;
}

Result<void> SealedStateStore::admitLocked(std::int64_t now) {
  auto live = [this] { return jtis_.size() + grants_.size() + leases_.size() + records_.size(); };
  if (live() < options_.maxLiveEntries) return Ok{};
  pruneLocked(now, /*force=*/true);
  if (live() < options_.maxLiveEntries) return Ok{};
  return stateError(state_errc::kFull, "the state holds its maximum number of live entries");
}

Result<bool> SealedStateStore::rememberOnce(const std::string& id, Clock::time_point expiresAt) {
  const std::int64_t now = nowMs();
  const std::int64_t exp = toMs(expiresAt);
  const Key16 k = keyOf(id);
  std::unique_lock lock(mu_);
  if (failed_) return *failed_;
  pruneLocked(now, false);
  auto it = jtis_.find(k);
  if (it != jtis_.end() && it->second > now) return false;
  // Unknown, or expired: when its window ends by the horizon it may have been
  // seen and pruned, so it is treated as seen.
  if (exp <= prunedThroughMs_) return false;
  if (it == jtis_.end()) {
    SEALGATE_TRY(admitLocked(now));
    jtis_.emplace(k, exp);
  } else {
    it->second = exp;
  }
  jtiExpiry_[exp / 1000].push_back(k);
  SEALGATE_TRY(commitLocked(lock, opJti(k.b, exp)));
  return true;
}

Result<std::uint32_t> SealedStateStore::takeUses(const UseRequest& use) {
  if (use.count == 0) return makeError(ErrorCode::InvalidRequest, "a use count must be positive");
  if (use.grantId.size() > 1024 || use.ancestors.size() > 64) {
    return makeError(ErrorCode::InvalidRequest, "grant ids are at most 1024 bytes, ancestries at most 64 grants");
  }
  const std::int64_t now = nowMs();
  std::unique_lock lock(mu_);
  if (failed_) return *failed_;
  pruneLocked(now, false);
  for (const std::string& ancestor : use.ancestors) {
    auto a = grants_.find(ancestor);
    if (a != grants_.end() && a->second.revoked) {
      return makeError(state_errc::kGrantRevoked, "a grant this one was delegated from has been revoked");
    }
  }
  auto it = grants_.find(use.grantId);
  if (it == grants_.end()) {
    const std::int64_t keep = toMs(use.keepUntil);
    // Unknown: a first use, unless its window ends by the horizon, when its
    // state may have been pruned (it could have been spent or revoked).
    if (keep <= prunedThroughMs_) return makeError(state_errc::kGrantExpired, "the grant has expired");
    if (use.maxUses < use.count) return makeError(state_errc::kGrantExhausted, "the grant has not enough uses left");
    SEALGATE_TRY(admitLocked(now));
    it = grants_.emplace(use.grantId, GrantEntry{use.maxUses, false, use.binding, keep}).first;
    grantExpiry_[keep / 1000].push_back(use.grantId);
  }
  GrantEntry& g = it->second;
  if (g.revoked) return makeError(state_errc::kGrantRevoked, "the grant has been revoked");
  if (g.remaining < use.count) return makeError(state_errc::kGrantExhausted, "the grant has not enough uses left");
  g.remaining -= use.count;
  const std::uint32_t remaining = g.remaining;
  SEALGATE_TRY(
      commitLocked(lock, opGrant(use.grantId, g.remaining, g.revoked, g.expMs, static_cast<std::uint8_t>(g.binding))));
  return remaining;
}

Result<void> SealedStateStore::revoke(const std::string& grantId, Clock::time_point expiresAt) {
  if (grantId.size() > 1024) return makeError(ErrorCode::InvalidRequest, "grant ids are at most 1024 bytes");
  const std::int64_t now = nowMs();
  std::unique_lock lock(mu_);
  if (failed_) return *failed_;
  const std::int64_t exp = toMs(expiresAt);
  auto it = grants_.find(grantId);
  if (it == grants_.end()) {
    SEALGATE_TRY(admitLocked(now));
    it = grants_.emplace(grantId, GrantEntry{0, true, GrantBinding::Unknown, exp}).first;
    grantExpiry_[exp / 1000].push_back(grantId);
  } else if (exp > it->second.expMs) {
    // A revocation is kept at least as long as asked (its descendants may verify).
    it->second.expMs = exp;
    grantExpiry_[exp / 1000].push_back(grantId);
  }
  it->second.revoked = true;
  return commitLocked(lock, opGrant(grantId, it->second.remaining, true, it->second.expMs,
                                    static_cast<std::uint8_t>(it->second.binding)));
}

std::vector<StateStore::GrantState> SealedStateStore::grants() const {
  const std::int64_t now = nowMs();
  std::lock_guard lock(mu_);
  std::vector<GrantState> out;
  for (const auto& [id, g] : grants_) {
    if (g.expMs > now) out.push_back(GrantState{id, g.remaining, g.revoked, fromMs(g.expMs), g.binding});
  }
  return out;
}

Result<void> SealedStateStore::putLease(const Lease& lease) {
  if (lease.leaseId.empty() || lease.leaseId.size() > 1024) return makeError(ErrorCode::InvalidRequest, "bad lease id");
  std::unique_lock lock(mu_);
  if (failed_) return *failed_;
  if (!leases_.count(lease.leaseId)) SEALGATE_TRY(admitLocked(nowMs()));
  leases_[lease.leaseId] = lease;
  return commitLocked(lock, opLeasePut(lease.leaseId, lease.dataJson, toMs(lease.expiresAt)));
}

Result<void> SealedStateStore::deleteLease(const std::string& leaseId) {
  if (leaseId.size() > 1024) return makeError(ErrorCode::InvalidRequest, "bad lease id");
  std::unique_lock lock(mu_);
  if (failed_) return *failed_;
  if (leases_.erase(leaseId) == 0) return Ok{};
  return commitLocked(lock, opLeaseDel(leaseId));
}

Result<void> SealedStateStore::putRecord(const Record& record) {
  if (!validRecordKey(record.kind, record.id)) return makeError(ErrorCode::InvalidRequest, "bad record kind or id");
  std::unique_lock lock(mu_);
  if (failed_) return *failed_;
  const std::pair<std::string, std::string> key{record.kind, record.id};
  if (!records_.count(key)) SEALGATE_TRY(admitLocked(nowMs()));
  records_[key] = record.dataJson;
  return commitLocked(lock, opRecordPut(record.kind, record.id, record.dataJson));
}

Result<void> SealedStateStore::deleteRecord(const std::string& kind, const std::string& id) {
  if (!validRecordKey(kind, id)) return makeError(ErrorCode::InvalidRequest, "bad record kind or id");
  std::unique_lock lock(mu_);
  if (failed_) return *failed_;
  if (records_.erase({kind, id}) == 0) return Ok{};
  return commitLocked(lock, opRecordDel(kind, id));
}

std::vector<StateStore::Record> SealedStateStore::records(const std::string& kind) const {
  std::lock_guard lock(mu_);
  std::vector<Record> out;
  for (auto it = records_.lower_bound({kind, ""}); it != records_.end() && it->first.first == kind; ++it) {
    out.push_back(Record{kind, it->first.second, it->second});
  }
  return out;
}

void SealedStateStore::anchorAuditHead(const merkle::TreeHead& head) {
  std::lock_guard lock(mu_);
  if (auditHead_ && head.size <= auditHead_->size) return;
  auditHead_ = head;
  auditHeadUnwritten_ = true;
  dirty_ = true;  // the next periodic checkpoint writes it when no change does
}

std::optional<merkle::TreeHead> SealedStateStore::auditHead() const {
  std::lock_guard lock(mu_);
  return auditHead_;
}

StateStore::Clock::time_point SealedStateStore::grantsIssuedFrom() const {
  std::lock_guard lock(mu_);
  return fromMs(grantsFromMs_);
}

std::vector<StateStore::Lease> SealedStateStore::leases() const {
  std::lock_guard lock(mu_);
  std::vector<Lease> out;
  for (const auto& [id, l] : leases_) out.push_back(l);
  return out;
}

Result<void> SealedStateStore::checkpoint() {
  std::lock_guard one(checkpointMu_);
  std::uint64_t value;
  {
    std::unique_lock lock(mu_);
    if (failed_) return *failed_;
    if (counter_ && counterBehind_) {
      lock.unlock();
      SEALGATE_TRY(counter_->increment());
      lock.lock();
      counterBehind_ = false;
    }
    value = checkpoint_ + 1;
    dirty_ = false;
    SEALGATE_TRY(commitLocked(lock, opU64(kOpCheckpoint, value)));
    // commitLocked marks the store dirty for its own op; a checkpoint is not a change.
    checkpoint_ = value;
    dirty_ = !pending_.empty();
  }
  if (!counter_) return Ok{};
  auto advanced = counter_->increment();
  std::lock_guard lock(mu_);
  if (!advanced) {
    counterBehind_ = true;  // retried before the next checkpoint; a restart finishes it too
    return std::move(advanced).takeError();
  }
  if (*advanced != value) {
    failed_ =
        stateError(state_errc::kRollback, "the TPM counter moved outside this appliance (expected " +
                                              std::to_string(value) + ", read " + std::to_string(*advanced) + ")");
    return *failed_;
  }
  return Ok{};
}

Result<void> SealedStateStore::compact() {
  std::lock_guard one(checkpointMu_);
  std::uint64_t value;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !flushing_; });
    if (failed_) return *failed_;
    if (counter_ && counterBehind_) {
      auto caughtUp = counter_->increment();  // under the lock: rare, and ~1 ms
      if (!caughtUp) return std::move(caughtUp).takeError();
      counterBehind_ = false;
    }
    pruneLocked(nowMs(), /*force=*/true);
    value = checkpoint_ + 1;
    SEALGATE_TRY(rewriteLocked(value));
  }
  if (!counter_) return Ok{};
  auto advanced = counter_->increment();
  if (!advanced) {
    std::lock_guard lock(mu_);
    counterBehind_ = true;
    return std::move(advanced).takeError();
  }
  return Ok{};
}

SealedStateStore::Status SealedStateStore::status() const {
  std::lock_guard lock(mu_);
  Status s;
  s.instanceId = hexLower(instance_);
  s.generation = generation_;
  s.checkpoint = checkpoint_;
  s.rollbackProtection = counter_ != nullptr;
  s.anchor = counter_ ? counter_->describe() : "none";
  s.counterBehind = counterBehind_;
  s.jtis = jtis_.size();
  s.grants = grants_.size();
  s.leases = leases_.size();
  s.featureRecords = records_.size();
  s.prunedThroughMs = prunedThroughMs_;
  s.journalBytes = journalBytes_;
  s.records = nextSeq_;
  s.tornTailBytes = tornTailBytes_;
  s.failed = failed_.has_value();
  return s;
}

bool SealedStateStore::healthy() const {
  std::lock_guard lock(mu_);
  return !failed_;
}

}  // namespace sealgate::appliance
