#include "appliance/audit/audit_log.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "appliance/telemetry/egress.h"
#include "appliance/telemetry/logging.h"
#include "core/audit_bundle.h"
#include "core/file_io.h"
#include "core/json_parse.h"
#include "core/signed_note.h"
#include "core/time_format.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

Error unavailable(const std::string& m) { return makeError(audit_errc::kUnavailable, m); }
Error corrupt(const std::string& m) { return makeError(audit_errc::kCorrupt, m); }
Error rolledBack(const std::string& m) { return makeError(audit_errc::kRollback, m); }

std::string nowRfc3339Millis() { return rfc3339Millis(std::chrono::system_clock::now()); }

std::string randomEventId() {
  std::uint8_t raw[16];
  RAND_bytes(raw, sizeof raw);
  return base64UrlNoPad(raw);
}

Result<std::string> readAll(int fd) {
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return unavailable(std::string("cannot read the audit log: ") + std::strerror(errno));
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Result<void> writeFully(int fd, const std::string& bytes) {
  if (auto w = writeAll(fd, bytes, audit_errc::kUnavailable); !w) {
    return unavailable(std::string("the audit log cannot be written: ") +
                       std::strerror(static_cast<int>(w.error().native)));
  }
  return Ok{};
}

// Splits a JSON-lines file; a final line without '\n' is torn (never acknowledged).
std::vector<std::pair<std::uint64_t, std::uint64_t>> lineSpans(const std::string& text, std::uint64_t& complete) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
  std::uint64_t start = 0;
  while (start < text.size()) {
    const auto nl = text.find('\n', start);
    if (nl == std::string::npos) break;
    spans.emplace_back(start, nl - start);
    start = nl + 1;
  }
  complete = start;
  return spans;
}

}  // namespace

namespace {

Result<int> openForAppend(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return unavailable("cannot open " + path + ": " + std::strerror(errno));
  return fd;
}

// A torn final entry (never acknowledged) cut off, durably.
Result<void> truncateTornEntry(int fd, std::uint64_t size, std::uint64_t complete, std::size_t entries) {
  if (complete < size) {
    logEvent(LogLevel::Warn, "audit_torn_record_truncated", {{"bytes", size - complete}, {"entries", entries}});
    if (::ftruncate(fd, static_cast<off_t>(complete)) != 0 || ::fdatasync(fd) != 0) {
      return unavailable("cannot truncate the torn final audit record");
    }
  }
  return Ok{};
}

// A torn checkpoint record was never used: it was not yet synced when we crashed.
Result<void> truncateTornCheckpoint(int fd, std::uint64_t size, std::uint64_t complete) {
  if (complete < size) {
    if (::ftruncate(fd, static_cast<off_t>(complete)) != 0) {
      return unavailable("cannot truncate the torn final checkpoint record");
    }
  }
  return Ok{};
}

// A stored checkpoint record, read and checked on its own: a signed note whose
// checkpoint has the record's size and the log's origin.
struct CheckedRecord {
  StoredCheckpoint stored;
  note::SignedNote signedNote;
  note::Checkpoint checkpoint;
};

Result<CheckedRecord> parseCheckpointRecord(std::string_view line, const std::string& origin) {
  json j = parseInternalJson(line);
  if (!j.is_object() || !j.contains("size") || !j["size"].is_number_unsigned() || !j.contains("note") ||
      !j["note"].is_string()) {
    return corrupt("checkpoints.jsonl has a malformed record");
  }
  StoredCheckpoint sc{j["size"].get<std::uint64_t>(), j["note"].get<std::string>()};
  auto parsed = note::parseNote(sc.note);
  if (!parsed) return corrupt("a stored checkpoint is not a signed note: " + parsed.error().message);
  auto cp = note::parseCheckpoint(parsed->text);
  if (!cp || cp->size != sc.size || cp->origin != origin) return corrupt("a stored checkpoint is malformed");
  return CheckedRecord{std::move(sc), std::move(*parsed), std::move(*cp)};
}

// Replays the stored checkpoints against the rebuilt leaves: each must cover no
// more than the log holds, not go backwards, carry a valid signature when made
// by the current key, and have the root of the leaves it covers.
Result<std::vector<StoredCheckpoint>> verifyCheckpoints(
    const std::string& cps, const std::vector<std::pair<std::uint64_t, std::uint64_t>>& spans,
    const std::vector<merkle::Hash>& leaves, const std::string& origin, const Bytes& spkiDer) {
  std::vector<StoredCheckpoint> out;
  merkle::Tree prefix;
  std::size_t next = 0;
  for (const auto& [start, len] : spans) {
    SEALGATE_ASSIGN_OR_RETURN(auto record, parseCheckpointRecord(std::string_view(cps).substr(start, len), origin));
    StoredCheckpoint& sc = record.stored;
    if (sc.size > leaves.size()) {
      return corrupt("the log has " + std::to_string(leaves.size()) + " entries but a signed checkpoint covers " +
                     std::to_string(sc.size) + ": entries were removed");
    }
    if (!out.empty() && sc.size < out.back().size) return corrupt("checkpoints go backwards");
    // A checkpoint by the current key must carry its valid signature (one by an
    // earlier key version is checked by the auditor with that key).
    const std::uint32_t keyId = note::ecdsaKeyId(spkiDer);
    for (const auto& sig : record.signedNote.signatures) {
      if (sig.keyId == keyId && !note::verifyEcdsa(record.signedNote, origin, spkiDer)) {
        return corrupt("the stored checkpoint of size " + std::to_string(sc.size) + " has a bad signature");
      }
    }
    while (next < sc.size) prefix.append(leaves[next++]);
    if (prefix.root() != record.checkpoint.root) {
      return corrupt("the entries do not match the signed checkpoint of size " + std::to_string(sc.size) +
                     ": the log was changed");
    }
    out.push_back(std::move(sc));
  }
  return out;
}

// Truncation: the sealed state anchored a head this log must still extend.
Result<void> checkAnchor(const std::optional<merkle::TreeHead>& anchor, const std::vector<merkle::Hash>& leaves) {
  if (!anchor) return Ok{};
  if (anchor->size > leaves.size()) {
    return rolledBack("the log has " + std::to_string(leaves.size()) + " entries but the sealed state anchored " +
                      std::to_string(anchor->size) + ": entries were cut from its end");
  }
  if (merkle::rootOf(std::span(leaves.data(), anchor->size)) != anchor->root) {
    return rolledBack("the log's first " + std::to_string(anchor->size) +
                      " entries are not the ones the sealed state anchored: the log was replaced");
  }
  return Ok{};
}

}  // namespace

Result<std::unique_ptr<MerkleAuditLog>> MerkleAuditLog::open(const AuditLogOptions& options, CheckpointSigner signer) {
  if (!note::validKeyName(options.origin)) {
    return makeError(ErrorCode::ConfigInvalid, "the log origin must be a valid key name");
  }
  std::unique_ptr<MerkleAuditLog> log(new MerkleAuditLog());
  log->options_ = options;
  log->signer_ = std::move(signer);
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  ::chmod(options.dir.c_str(), 0700);
  SEALGATE_ASSIGN_OR_RETURN(log->fd_, openForAppend(options.dir + "/entries.jsonl"));
  // One writer: a second process on the same log (two daemons on one data
  // directory, a key ceremony beside a running daemon) would interleave entries
  // the tree does not know. The lock lives as long as the descriptor.
  if (::flock(log->fd_, LOCK_EX | LOCK_NB) != 0) {
    return unavailable("the audit log " + options.dir + " is open in another process");
  }
  SEALGATE_ASSIGN_OR_RETURN(log->checkpointFd_, openForAppend(options.dir + "/checkpoints.jsonl"));
  // The files' directory entries are durable too.
  SEALGATE_TRY(syncDir(options.dir, audit_errc::kUnavailable));

  // Entries: rebuild the tree; drop a torn final record.
  SEALGATE_ASSIGN_OR_RETURN(auto text, readAll(log->fd_));
  std::uint64_t complete = 0;
  auto spans = lineSpans(text, complete);
  SEALGATE_TRY(truncateTornEntry(log->fd_, text.size(), complete, spans.size()));
  for (const auto& [start, len] : spans) {
    log->offsets_.push_back(start);
    log->tree_.append(merkle::leafHash(std::string_view(text).substr(start, len)));
  }
  log->offsets_.push_back(complete);

  // Checkpoints: each must match the rebuilt tree at its size.
  SEALGATE_ASSIGN_OR_RETURN(auto cps, readAll(log->checkpointFd_));
  std::uint64_t cpComplete = 0;
  auto cpSpans = lineSpans(cps, cpComplete);
  SEALGATE_TRY(truncateTornCheckpoint(log->checkpointFd_, cps.size(), cpComplete));
  const std::vector<merkle::Hash>& leaves = log->tree_.leaves();
  SEALGATE_ASSIGN_OR_RETURN(log->checkpoints_,
                            verifyCheckpoints(cps, cpSpans, leaves, options.origin, log->signer_.spkiDer));
  SEALGATE_TRY(checkAnchor(options.anchor, leaves));
  log->lastCheckpoint_ = std::chrono::steady_clock::now();
  log->lastSignedAt_ = std::chrono::system_clock::now();
  log->writer_ = std::thread([l = log.get()] { l->writerLoop(); });
  logEvent(LogLevel::Info, "audit_log_opened",
           {{"entries", log->tree_.size()}, {"checkpoints", log->checkpoints_.size()}, {"key", log->signer_.keyLabel}});
  return log;
}

MerkleAuditLog::~MerkleAuditLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (fd_ >= 0) ::close(fd_);
  if (checkpointFd_ >= 0) ::close(checkpointFd_);
}

Result<std::uint64_t> MerkleAuditLog::append(const std::string& eventJson) {
  // Events are built from resource_refs and never hold a value: one that does is
  // a bug upstream. Neither it nor a scrubbed copy is written; the caller fails closed.
  if (auto clean = egressGuard().check(eventJson); !clean.ok()) {
    countEgressBlock(EgressBlocked::AuditEvent);
    logEvent(LogLevel::Error, "audit_event_blocked", {{"code", egress_errc::kBlocked}});
    return std::move(clean).takeError();
  }
  json event = parseInternalJson(eventJson);
  if (!event.is_object()) return makeError(ErrorCode::AuditInvalidEvent, "an audit event is one JSON object");
  auto p = std::make_shared<Pending>();
  p->event = eventJson;
  std::unique_lock lock(mu_);
  if (failed_) return unavailable("the audit log failed earlier and accepts no more events");
  if (stopping_) return unavailable("the audit log is shutting down");
  queue_.push_back(p);
  cv_.notify_all();
  if (!doneCv_.wait_for(lock, options_.appendTimeout, [&] { return p->done; })) {
    // Bounded wait: the event may still be written later; the caller denies anyway.
    return unavailable("the audit log did not commit the event within " +
                       std::to_string(options_.appendTimeout.count()) + " ms");
  }
  if (p->failed) return unavailable(p->error);
  return p->index;
}

void MerkleAuditLog::sampledOut() {
  std::lock_guard lock(mu_);
  ++sampledOut_;
}

bool MerkleAuditLog::healthy() const {
  std::lock_guard lock(mu_);
  return !failed_ && !lastWriteFailed_ && !stopping_;
}

Result<void> MerkleAuditLog::writeBatch(const std::string& bytes, bool& fatal) {
  const off_t before = ::lseek(fd_, 0, SEEK_END);
  if (auto w = writeFully(fd_, bytes); !w) {
    // Nothing of this batch was acknowledged: take the partial bytes back.
    if (before < 0 || ::ftruncate(fd_, before) != 0) fatal = true;
    return w;
  }
  if (::fdatasync(fd_) != 0) {
    fatal = true;  // after a failed fsync the kernel's state is unknown: stop for good
    return unavailable(std::string("the audit log cannot be synced: ") + std::strerror(errno));
  }
  return Ok{};
}

namespace {

// One stored entry: the event with the fields the log owns set (schema_version,
// audit_index, event_id and time unless the event has them, sampled_out when
// events were sampled out before it).
std::string formatEntry(const std::string& eventJson, std::uint64_t index, std::uint64_t sampledOut) {
  json e = parseInternalJson(eventJson);
  json out = {{"schema_version", 1}, {"audit_index", index}};
  out["event_id"] = e.contains("event_id") ? e["event_id"] : json(randomEventId());
  out["time"] = e.contains("time") ? e["time"] : json(nowRfc3339Millis());
  for (auto& [k, v] : e.items()) {
    if (k != "audit_index" && k != "schema_version" && k != "sampled_out") out[k] = v;
  }
  if (sampledOut > 0) out["sampled_out"] = sampledOut;
  return out.dump();
}

}  // namespace

void MerkleAuditLog::writerLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_for(lock, options_.checkpointInterval,
                 [&] { return stopping_ || !queue_.empty() || checkpointRequested_; });
    if (!queue_.empty()) writeQueuedLocked(lock);
    checkpointIfDueLocked(lock);
    if (stopping_ && queue_.empty()) return;
  }
}

void MerkleAuditLog::writeQueuedLocked(std::unique_lock<std::mutex>& lock) {
  std::vector<std::shared_ptr<Pending>> batch(queue_.begin(), queue_.end());
  queue_.clear();
  std::string bytes;
  std::vector<std::string> lines;
  std::uint64_t index = tree_.size();
  std::string failure;
  if (failed_) failure = "the audit log failed earlier and accepts no more events";
  const std::uint64_t taken = sampledOut_;
  std::uint64_t sampled = taken;
  for (auto& p : batch) {
    lines.push_back(formatEntry(p->event, index, sampled));
    sampled = 0;  // counted once, on the batch's first entry
    p->index = index++;
    bytes += lines.back() + "\n";
  }
  Result<void> written = Ok{};
  if (failure.empty()) {
    bool fatal = false;
    lock.unlock();
    const auto started = std::chrono::steady_clock::now();
    written = writeBatch(bytes, fatal);
    if (options_.onBatch) {
      options_.onBatch(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), batch.size(),
                       written.ok());
    }
    lock.lock();
    if (fatal) failed_ = true;
  }
  if (!failure.empty() || !written) {
    failBatchLocked(batch, failure.empty() ? written.error().message : failure);
  } else {
    commitBatchLocked(lock, batch, lines, taken);
  }
  doneCv_.notify_all();
}

void MerkleAuditLog::failBatchLocked(const std::vector<std::shared_ptr<Pending>>& batch, const std::string& why) {
  lastWriteFailed_ = true;
  logEvent(LogLevel::Error, "audit_write_failed", {{"error", why}, {"events", batch.size()}});
  for (const auto& p : batch) {
    p->failed = true;
    p->error = why;
    p->done = true;
  }
}

void MerkleAuditLog::commitBatchLocked(std::unique_lock<std::mutex>& lock,
                                       const std::vector<std::shared_ptr<Pending>>& batch,
                                       const std::vector<std::string>& lines, std::uint64_t sampledOutTaken) {
  lastWriteFailed_ = false;
  ++batches_;
  sampledOut_ -= sampledOutTaken;
  std::uint64_t offset = offsets_.back();
  offsets_.pop_back();  // the end marker
  for (std::size_t i = 0; i < batch.size(); ++i) {
    offsets_.push_back(offset);
    tree_.append(merkle::leafHash(lines[i]));
    offset += lines[i].size() + 1;
    batch[i]->done = true;
  }
  offsets_.push_back(offset);
  if (options_.onDurableHead) {
    const merkle::TreeHead head{tree_.size(), tree_.root()};
    lock.unlock();
    options_.onDurableHead(head);
    lock.lock();
  }
}

void MerkleAuditLog::checkpointIfDueLocked(std::unique_lock<std::mutex>& lock) {
  const std::uint64_t covered = checkpoints_.empty() ? 0 : checkpoints_.back().size;
  const bool due = tree_.size() > covered &&
                   (tree_.size() - covered >= options_.checkpointEvery ||
                    std::chrono::steady_clock::now() - lastCheckpoint_ >= options_.checkpointInterval || stopping_);
  if (!checkpointRequested_ && !due) return;
  if (tree_.size() > covered || checkpoints_.empty() || (checkpointRequested_ && signerChanged_)) {
    if (auto s = signCheckpointLocked(lock); !s) {
      logEvent(LogLevel::Error, "audit_checkpoint_failed", {{"error", s.error().describe()}});
    }
  }
  lastCheckpoint_ = std::chrono::steady_clock::now();
  checkpointRequested_ = false;
  checkpointsDone_ = checkpointRequests_;
  doneCv_.notify_all();
}

Result<void> MerkleAuditLog::signCheckpointLocked(std::unique_lock<std::mutex>& lock) {
  const note::Checkpoint cp{options_.origin, tree_.size(), tree_.root()};
  const std::string text = note::formatCheckpoint(cp);
  const CheckpointSigner signer = signer_;
  lock.unlock();
  auto sig = signer.sign(text);
  lock.lock();
  if (!sig) return std::move(sig).takeError();
  const std::string signedNote =
      note::formatNote(text, {note::Signature{options_.origin, note::ecdsaKeyId(signer.spkiDer), std::move(*sig)}});
  const std::string record = json{{"size", cp.size}, {"note", signedNote}}.dump() + "\n";
  // A torn record stays torn: a checkpoint appended after it would make the
  // file unreadable at the next start (that start drops a torn final record).
  if (checkpointsTorn_) return unavailable("a checkpoint was cut short and could not be taken back; restart");
  const off_t before = ::lseek(checkpointFd_, 0, SEEK_END);
  if (auto w = writeFully(checkpointFd_, record); !w) {
    // A full disk: take the partial bytes back, so a later checkpoint follows a whole record.
    if (before < 0 || ::ftruncate(checkpointFd_, before) != 0) checkpointsTorn_ = true;
    return w;
  }
  if (::fdatasync(checkpointFd_) != 0) return unavailable("the checkpoint file cannot be synced");
  checkpoints_.push_back(StoredCheckpoint{cp.size, signedNote});
  lastSignedAt_ = std::chrono::system_clock::now();
  if (signer.spkiDer == signer_.spkiDer) signerChanged_ = false;
  return Ok{};
}

std::uint64_t MerkleAuditLog::batches() const {
  std::lock_guard lock(mu_);
  return batches_;
}

std::uint64_t MerkleAuditLog::size() const {
  std::lock_guard lock(mu_);
  return tree_.size();
}

Result<std::vector<std::string>> MerkleAuditLog::read(std::uint64_t from, std::uint64_t count) const {
  std::uint64_t start, end;
  std::vector<std::uint64_t> offs;
  {
    std::lock_guard lock(mu_);
    if (from > tree_.size()) return makeError(ErrorCode::MerkleRange, "no such entry");
    count = std::min(count, tree_.size() - from);
    offs.assign(offsets_.begin() + static_cast<std::ptrdiff_t>(from),
                offsets_.begin() + static_cast<std::ptrdiff_t>(from + count + 1));
  }
  start = offs.front();
  end = offs.back();
  std::string buf(end - start, '\0');
  std::size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::pread(fd_, buf.data() + done, buf.size() - done, static_cast<off_t>(start + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return unavailable("cannot read the audit log back");
    done += static_cast<std::size_t>(n);
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i + 1 < offs.size(); ++i) {
    // Each record without its newline.
    out.push_back(buf.substr(offs[i] - start, offs[i + 1] - offs[i] - 1));
  }
  return out;
}

std::uint64_t MerkleAuditLog::waitForSize(std::uint64_t index, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  doneCv_.wait_for(lock, timeout, [&] { return tree_.size() > index || stopping_; });
  return tree_.size();
}

std::vector<merkle::Hash> MerkleAuditLog::leafHashes(std::uint64_t size) const {
  std::lock_guard lock(mu_);
  const auto& l = tree_.leaves();
  return std::vector<merkle::Hash>(l.begin(),
                                   l.begin() + static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(size, l.size())));
}

MerkleAuditLog::CheckpointState MerkleAuditLog::checkpointState() const {
  std::lock_guard lock(mu_);
  return CheckpointState{checkpoints_.empty() ? 0 : checkpoints_.back().size, lastSignedAt_};
}

std::vector<StoredCheckpoint> MerkleAuditLog::checkpoints() const {
  std::lock_guard lock(mu_);
  return checkpoints_;
}

CheckpointSigner MerkleAuditLog::signer() const {
  std::lock_guard lock(mu_);
  return signer_;
}

Result<StoredCheckpoint> MerkleAuditLog::rotateSigner(CheckpointSigner next) {
  SEALGATE_TRY(checkpointNow());
  {
    std::lock_guard lock(mu_);
    logEvent(LogLevel::Info, "audit_key_rotated", {{"from", signer_.keyLabel}, {"to", next.keyLabel}});
    signer_ = std::move(next);
    signerChanged_ = true;
  }
  return checkpointNow();
}

Result<StoredCheckpoint> MerkleAuditLog::checkpointNow() {
  std::unique_lock lock(mu_);
  if (!checkpoints_.empty() && checkpoints_.back().size == tree_.size() && !signerChanged_) return checkpoints_.back();
  const std::uint64_t wanted = tree_.size();
  const std::uint64_t ticket = ++checkpointRequests_;
  checkpointRequested_ = true;
  cv_.notify_all();
  if (!doneCv_.wait_for(lock, options_.appendTimeout, [&] { return checkpointsDone_ >= ticket || stopping_; })) {
    return unavailable("no checkpoint could be signed in time");
  }
  // An older checkpoint is no answer: the HSM or the disk failed this one.
  if (checkpoints_.empty() || checkpoints_.back().size < wanted) {
    return unavailable("no checkpoint could be signed (HSM unavailable, or the disk full?)");
  }
  return checkpoints_.back();
}

Result<std::vector<merkle::Hash>> MerkleAuditLog::inclusionProof(std::uint64_t index, std::uint64_t treeSize) const {
  std::lock_guard lock(mu_);
  return merkle::inclusionProof(tree_.leaves(), index, treeSize);
}

Result<std::vector<merkle::Hash>> MerkleAuditLog::consistencyProof(std::uint64_t first, std::uint64_t second) const {
  std::lock_guard lock(mu_);
  return merkle::consistencyProof(tree_.leaves(), first, second);
}

Result<std::string> MerkleAuditLog::exportBundle() {
  SEALGATE_ASSIGN_OR_RETURN(auto out, exportWithSize());
  return std::move(out.bundle);
}

Result<AuditExport> MerkleAuditLog::exportWithSize() {
  SEALGATE_ASSIGN_OR_RETURN(auto cp, checkpointNow());
  const std::uint64_t size = cp.size;
  SEALGATE_ASSIGN_OR_RETURN(auto entries, read(0, size));
  const auto leaves = leafHashes(size);
  auto b64 = [](const std::vector<merkle::Hash>& hs) {
    json a = json::array();
    for (const auto& h : hs) a.push_back(base64Std(h));
    return a;
  };
  json earlier = json::array();
  std::uint64_t previous = 0;
  for (const auto& c : checkpoints()) {
    if (c.size >= size) continue;
    earlier.push_back({{"size", c.size}, {"note", c.note}});
    previous = c.size;
  }
  json proofs = {{"consistency", json::array()}, {"inclusion", json::array()}};
  if (previous > 0) {
    auto p = merkle::consistencyProof(leaves, previous, size);
    if (p) proofs["consistency"].push_back({{"first", previous}, {"second", size}, {"proof", b64(*p)}});
  }
  if (size > 0) {
    auto p = merkle::inclusionProof(leaves, size - 1, size);
    if (p) proofs["inclusion"].push_back({{"index", size - 1}, {"tree_size", size}, {"proof", b64(*p)}});
  }
  json bundle = {{"format", audit::kBundleFormat}, {"origin", options_.origin}, {"tree_size", size},
                 {"checkpoint", cp.note},          {"checkpoints", earlier},    {"entries", entries},
                 {"leaf_hashes", b64(leaves)},     {"proofs", proofs}};
  return AuditExport{bundle.dump(), size};
}

}  // namespace sealgate::appliance
