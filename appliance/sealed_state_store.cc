#include "appliance/sealed_state_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "appliance/logging.h"
#include "core/encoding.h"

namespace sealgate::appliance {
namespace fs = std::filesystem;
namespace {

constexpr char kMagic[8] = {'S', 'G', 'S', 'T', 'A', 'T', 'E', '1'};
constexpr std::size_t kHeaderBytes = 40;  // magic 8 | instance 16 | generation 8 | reserved 8
constexpr std::size_t kFrameBytes = 8;    // u32 length | u32 ~length
constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::size_t kMaxRecordBytes = 64u << 20;
constexpr std::size_t kSnapshotRecordBytes = 1u << 20;  // plaintext per snapshot record
constexpr const char* kKdfContext = "sgstate1";
constexpr const char* kDataKeyFile = "datakey.sealed";
constexpr const char* kJournalFile = "journal";

enum Op : std::uint8_t { kOpOpen = 1, kOpJti = 2, kOpGrant = 3, kOpLeasePut = 4, kOpLeaseDel = 5, kOpCheckpoint = 6, kOpGrantsFrom = 7 };
enum SubKey : std::uint64_t { kSubJournal = 1, kSubIdHash = 2, kSubCounterAuth = 3 };

Error stateError(const char* code, const std::string& message) { return makeError(code, message); }
Error ioError(const std::string& what) {
  return stateError(state_errc::kUnavailable, what + ": " + std::strerror(errno));
}

void putU16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v));
  out.push_back(static_cast<char>(v >> 8));
}
void putU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void putU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void putStr16(std::string& out, std::string_view s) {
  putU16(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
}

// A cursor over decrypted record plaintext; any overrun sets ok=false.
struct Reader {
  std::string_view in;
  bool ok = true;
  bool take(std::size_t n, std::string_view& out) {
    if (!ok || in.size() < n) return ok = false;
    out = in.substr(0, n);
    in.remove_prefix(n);
    return true;
  }
  std::uint64_t uint(int bytes) {
    std::string_view s;
    if (!take(static_cast<std::size_t>(bytes), s)) return 0;
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(s[static_cast<std::size_t>(i)]);
    return v;
  }
  std::string str16() {
    std::string_view s;
    const auto n = static_cast<std::size_t>(uint(2));
    if (!take(n, s)) return {};
    return std::string(s);
  }
  std::string str32() {
    std::string_view s;
    const auto n = static_cast<std::size_t>(uint(4));
    if (!take(n, s)) return {};
    return std::string(s);
  }
};

std::int64_t toMs(StateStore::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
StateStore::Clock::time_point fromMs(std::int64_t ms) {
  return StateStore::Clock::time_point(std::chrono::milliseconds(ms));
}

std::string header(const std::array<std::uint8_t, 16>& instance, std::uint64_t generation) {
  std::string h(kMagic, sizeof kMagic);
  h.append(reinterpret_cast<const char*>(instance.data()), instance.size());
  for (int i = 7; i >= 0; --i) h.push_back(static_cast<char>(generation >> (8 * i)));
  h.append(8, '\0');
  return h;
}

std::string aadOf(const std::string& hdr, std::uint64_t seq) {
  std::string aad = hdr;
  for (int i = 7; i >= 0; --i) aad.push_back(static_cast<char>(seq >> (8 * i)));
  return aad;
}

std::string sealRecord(const Secret& key, const std::string& hdr, std::uint64_t seq, std::string_view plaintext) {
  const std::size_t len = kNonceBytes + plaintext.size() + kTagBytes;
  std::string out;
  out.reserve(kFrameBytes + len);
  putU32(out, static_cast<std::uint32_t>(len));
  putU32(out, ~static_cast<std::uint32_t>(len));
  std::uint8_t nonce[kNonceBytes];
  randombytes_buf(nonce, sizeof nonce);
  out.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
  const std::size_t at = out.size();
  out.resize(at + plaintext.size() + kTagBytes);
  const std::string aad = aadOf(hdr, seq);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(out.data() + at), &clen, reinterpret_cast<const unsigned char*>(plaintext.data()),
      plaintext.size(), reinterpret_cast<const unsigned char*>(aad.data()), aad.size(), nullptr, nonce,
      key.exposeSecretBytes().data());
  return out;
}

Result<void> writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ioError("the state journal cannot be written");
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Ok{};
}

Result<void> syncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ioError("cannot open " + dir.string());
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return ioError("cannot sync " + dir.string());
  return Ok{};
}

// tmp, fsync, rename, fsync the folder: the file is either old or new, whole.
Result<void> writeFileAtomically(const fs::path& path, std::string_view data) {
  const fs::path tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ioError("cannot create " + tmp.string());
  auto written = writeAll(fd, data);
  if (written && ::fsync(fd) != 0) written = ioError("cannot sync " + tmp.string());
  ::close(fd);
  if (!written) return written;
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ioError("cannot rename " + tmp.string());
  return syncDir(path.parent_path());
}

Result<std::string> readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return stateError(state_errc::kMissing, "the state file " + path.filename().string() + " is missing");
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return ioError("cannot read " + path.string());
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

// An operation that carries one u64: open, checkpoint, grants-from.
std::string opU64(Op type, std::uint64_t value) {
  std::string op(1, static_cast<char>(type));
  putU64(op, value);
  return op;
}

std::string opGrant(const std::string& id, std::uint32_t remaining, bool revoked, std::int64_t expMs) {
  std::string op(1, static_cast<char>(kOpGrant));
  putStr16(op, id);
  putU32(op, remaining);
  op.push_back(revoked ? 1 : 0);
  putU64(op, static_cast<std::uint64_t>(expMs));
  return op;
}

std::string opLeasePut(const StateStore::Lease& l) {
  std::string op(1, static_cast<char>(kOpLeasePut));
  putStr16(op, l.leaseId);
  putU32(op, static_cast<std::uint32_t>(l.dataJson.size()));
  op.append(l.dataJson);
  putU64(op, static_cast<std::uint64_t>(toMs(l.expiresAt)));
  return op;
}

// Maps an error from unsealing the data key to what the operator must know.
Error unsealFailure(Error e) {
  if (e.code == "HSM_DECRYPT_FAILED" || e.code == "SEALED_KEY_INVALID") {
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

std::int64_t SealedStateStore::nowMs() const { return toMs(Clock::now()); }

Result<void> SealedStateStore::initialize(const SealedStateOptions& options, DataKeySealer& sealer,
                                          const CounterFactory& counters) {
  const fs::path dir(options.dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return stateError(state_errc::kUnavailable, "cannot create " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  if (fs::exists(dir / kDataKeyFile) || fs::exists(dir / kJournalFile)) {
    return stateError("STATE_EXISTS", "state already exists in " + dir.string() + "; it is never overwritten");
  }
  std::array<std::uint8_t, 16> instance{};
  randombytes_buf(instance.data(), instance.size());
  auto dataKey = Secret::allocate(32);
  if (!dataKey) return std::move(dataKey).takeError();
  randombytes_buf(dataKey->exposeSecretBytesMutable().data(), 32);
  auto blob = sealer.seal(*dataKey, contextOf(instance));
  if (!blob) return std::move(blob).takeError();

  std::uint64_t checkpoint = 1;
  std::unique_ptr<MonotonicCounter> counter;
  if (counters) {
    auto auth = deriveKey(*dataKey, kSubCounterAuth);
    if (!auth) return std::move(auth).takeError();
    auto made = counters(*auth, /*define=*/true);
    if (!made) return std::move(made).takeError();
    counter = std::move(*made);
    auto value = counter->read();
    if (!value) return std::move(value).takeError();
    checkpoint = *value + 1;
  }
  auto journalKey = deriveKey(*dataKey, kSubJournal);
  if (!journalKey) return std::move(journalKey).takeError();
  const std::string hdr = header(instance, 1);
  std::string first = opU64(kOpOpen, checkpoint);
  first += opU64(kOpGrantsFrom, static_cast<std::uint64_t>(toMs(Clock::now())));
  const std::string journal = hdr + sealRecord(*journalKey, hdr, 0, first);
  SEALGATE_TRY(writeFileAtomically(dir / kDataKeyFile, std::string_view(reinterpret_cast<const char*>(blob->data()),
                                                                        blob->size())));
  SEALGATE_TRY(writeFileAtomically(dir / kJournalFile, journal));
  if (counter) {
    auto advanced = counter->increment();
    if (!advanced) return std::move(advanced).takeError();
  }
  return Ok{};
}

void SealedStateStore::applyOp(std::string_view& in, std::int64_t now, std::optional<std::uint64_t>& checkpoint,
                               bool& ok) {
  Reader r{in};
  const auto type = static_cast<std::uint8_t>(r.uint(1));
  switch (type) {
    case kOpOpen:
    case kOpCheckpoint:
      checkpoint = r.uint(8);
      break;
    case kOpJti: {
      std::string_view raw;
      Key16 k{};
      if (r.take(16, raw)) std::memcpy(k.b.data(), raw.data(), 16);
      const auto exp = static_cast<std::int64_t>(r.uint(8));
      if (r.ok && exp > now) {
        jtis_[k] = exp;
        jtiExpiry_[exp / 1000].push_back(k);
      }
      break;
    }
    case kOpGrant: {
      std::string id = r.str16();
      GrantEntry g;
      g.remaining = static_cast<std::uint32_t>(r.uint(4));
      g.revoked = r.uint(1) != 0;
      g.expMs = static_cast<std::int64_t>(r.uint(8));
      if (r.ok && g.expMs > now) {
        grantExpiry_[g.expMs / 1000].push_back(id);
        grants_[std::move(id)] = g;
      } else if (r.ok) {
        grants_.erase(id);
      }
      break;
    }
    case kOpLeasePut: {
      Lease l;
      l.leaseId = r.str16();
      l.dataJson = r.str32();
      l.expiresAt = fromMs(static_cast<std::int64_t>(r.uint(8)));
      if (r.ok) leases_[l.leaseId] = std::move(l);
      break;
    }
    case kOpGrantsFrom:
      grantsFromMs_ = static_cast<std::int64_t>(r.uint(8));
      break;
    case kOpLeaseDel: {
      std::string id = r.str16();
      if (r.ok) leases_.erase(id);
      break;
    }
    default:
      r.ok = false;
  }
  ok = r.ok;
  in = r.in;
}

Result<std::unique_ptr<SealedStateStore>> SealedStateStore::open(const SealedStateOptions& options,
                                                                 DataKeySealer& sealer,
                                                                 const CounterFactory& counters) {
  std::unique_ptr<SealedStateStore> s(new SealedStateStore());
  s->options_ = options;
  const fs::path dir(options.dir);
  if (!fs::is_directory(dir)) {
    return stateError(state_errc::kMissing, "the state folder " + dir.string() +
                                                " is missing; it is never created silently (see `sealgate state init`)");
  }
  auto blob = readFile(dir / kDataKeyFile);
  if (!blob) return std::move(blob).takeError();
  auto journal = readFile(dir / kJournalFile);
  if (!journal) return std::move(journal).takeError();
  std::error_code ec;
  fs::remove(dir / (std::string(kJournalFile) + ".tmp"), ec);  // an unfinished rewrite: the journal is intact

  if (journal->size() < kHeaderBytes || std::memcmp(journal->data(), kMagic, sizeof kMagic) != 0) {
    return stateError(state_errc::kTampered, "the state journal has no valid header");
  }
  std::memcpy(s->instance_.data(), journal->data() + 8, 16);
  for (int i = 0; i < 8; ++i) s->generation_ = (s->generation_ << 8) | static_cast<std::uint8_t>((*journal)[24 + i]);
  const std::string hdr = journal->substr(0, kHeaderBytes);

  auto dataKey = sealer.unseal(Bytes(blob->begin(), blob->end()), contextOf(s->instance_));
  if (!dataKey) return unsealFailure(std::move(dataKey).takeError());
  auto journalKey = deriveKey(*dataKey, kSubJournal);
  auto idKey = deriveKey(*dataKey, kSubIdHash);
  auto counterAuth = deriveKey(*dataKey, kSubCounterAuth);
  if (!journalKey || !idKey || !counterAuth) return stateError(state_errc::kUnavailable, "cannot derive state keys");
  s->journalKey_ = std::move(*journalKey);
  s->idKey_ = std::move(*idKey);

  std::optional<std::uint64_t> tpmValue;
  if (counters) {
    auto made = counters(*counterAuth, /*define=*/false);
    if (!made) return std::move(made).takeError();
    s->counter_ = std::move(*made);
    auto value = s->counter_->read();
    if (!value) return std::move(value).takeError();
    tpmValue = *value;
  }

  // Replay every record; the first must open the file with its checkpoint.
  const std::int64_t now = s->nowMs();
  std::optional<std::uint64_t> checkpoint;
  std::size_t at = kHeaderBytes;
  std::uint64_t seq = 0;
  std::string plain;
  const std::string& j = *journal;
  while (at < j.size()) {
    const std::size_t left = j.size() - at;
    Reader frame{std::string_view(j).substr(at, std::min(left, kFrameBytes))};
    const auto len = static_cast<std::uint32_t>(frame.uint(4));
    const auto notLen = static_cast<std::uint32_t>(frame.uint(4));
    if (!frame.ok) {  // fewer than 8 bytes: a frame cut short by a crash
      s->tornTailBytes_ = left;
      break;
    }
    if (notLen != ~len || len < kNonceBytes + kTagBytes + 1 || len > kMaxRecordBytes) {
      return stateError(state_errc::kTampered, "state journal record " + std::to_string(seq) + " has a corrupt frame");
    }
    if (left < kFrameBytes + len) {  // an append that never completed (never acknowledged)
      s->tornTailBytes_ = left;
      break;
    }
    const auto* nonce = reinterpret_cast<const unsigned char*>(j.data() + at + kFrameBytes);
    const auto* ct = nonce + kNonceBytes;
    const std::size_t ctLen = len - kNonceBytes;
    plain.resize(ctLen - kTagBytes);
    const std::string aad = aadOf(hdr, seq);
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()), &plen, nullptr, ct,
                                                   ctLen, reinterpret_cast<const unsigned char*>(aad.data()),
                                                   aad.size(), nonce, s->journalKey_.exposeSecretBytes().data()) != 0) {
      return stateError(state_errc::kTampered, "state journal record " + std::to_string(seq) +
                                                   " fails authentication (modified, moved or from another appliance)");
    }
    std::string_view ops(plain);
    if (seq == 0 && (ops.empty() || static_cast<std::uint8_t>(ops[0]) != kOpOpen)) {
      return stateError(state_errc::kTampered, "the state journal does not start with its opening record");
    }
    while (!ops.empty()) {
      bool ok = true;
      s->applyOp(ops, now, checkpoint, ok);
      if (!ok) return stateError(state_errc::kTampered, "state journal record " + std::to_string(seq) + " is undecodable");
    }
    at += kFrameBytes + len;
    ++seq;
  }
  if (!checkpoint) return stateError(state_errc::kTampered, "the state journal has no opening record");
  secureWipe(plain.data(), plain.size());
  if (s->tornTailBytes_ > 0) {
    logEvent(LogLevel::Warn, "state_torn_tail_dropped",
             {{"bytes", s->tornTailBytes_}, {"record", seq},
              {"why", "an append that a crash interrupted before it was acknowledged"}});
  }

  // Rollback check against the counter (file == counter, or counter + 1 when the
  // increment after the last checkpoint did not happen).
  if (tpmValue) {
    if (*checkpoint < *tpmValue) {
      return stateError(state_errc::kRollback, "the state is older than its TPM counter (checkpoint " +
                                                   std::to_string(*checkpoint) + ", counter " +
                                                   std::to_string(*tpmValue) + "): an old copy was restored");
    }
    if (*checkpoint > *tpmValue + 1) {
      return stateError(state_errc::kTampered, "the state claims checkpoint " + std::to_string(*checkpoint) +
                                                   " but the TPM counter is " + std::to_string(*tpmValue));
    }
    if (*checkpoint == *tpmValue + 1) {
      auto finished = s->counter_->increment();
      if (!finished) return std::move(finished).takeError();
    }
  }
  s->checkpoint_ = *checkpoint;

  // Start a new generation: a compact snapshot whose opening record is the next
  // checkpoint, then advance the counter.
  {
    std::unique_lock lock(s->mu_);
    const std::uint64_t next = s->checkpoint_ + 1;
    SEALGATE_TRY(s->rewriteLocked(next));
  }
  if (s->counter_) {
    auto advanced = s->counter_->increment();
    if (!advanced) return std::move(advanced).takeError();
  }
  s->background_ = std::thread([p = s.get()] { p->background(); });
  return s;
}

SealedStateStore::~SealedStateStore() {
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
      if (auto r = checkpoint(); !r) logEvent(LogLevel::Warn, "state_checkpoint_failed", {{"error", r.error().describe()}});
    }
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
      const std::uint64_t live = jtis_.size() * 40 + grants_.size() * 64 + leases_.size() * 256;
      compactNow = !failed_ && journalBytes_ > options_.compactMinBytes && journalBytes_ > 2 * live;
    }
    if (compactNow) {
      if (auto r = compact(); !r) logEvent(LogLevel::Error, "state_compaction_failed", {{"error", r.error().describe()}});
    } else if (dirty) {
      if (auto r = checkpoint(); !r) logEvent(LogLevel::Error, "state_checkpoint_failed", {{"error", r.error().describe()}});
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
  auto flushBatch = [&] {
    file += sealRecord(journalKey_, hdr, seq++, batch);
    secureWipe(batch.data(), batch.size());
    batch.clear();
  };
  auto add = [&](const std::string& op) {
    if (batch.size() + op.size() > kSnapshotRecordBytes) flushBatch();
    batch += op;
  };
  const std::int64_t now = nowMs();
  for (const auto& [k, exp] : jtis_) {
    if (exp <= now) continue;
    std::string op(1, static_cast<char>(kOpJti));
    op.append(reinterpret_cast<const char*>(k.b.data()), k.b.size());
    putU64(op, static_cast<std::uint64_t>(exp));
    add(op);
  }
  for (const auto& [id, g] : grants_) {
    if (g.expMs > now) add(opGrant(id, g.remaining, g.revoked, g.expMs));
  }
  for (const auto& [id, l] : leases_) add(opLeasePut(l));
  flushBatch();
  // The new generation goes to a temporary file first: until the rename, a
  // failure leaves the current journal in use and intact.
  const fs::path path = dir / kJournalFile;
  const fs::path tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ioError("cannot create " + tmp.string());
  auto written = writeAll(fd, file);
  if (written && ::fsync(fd) != 0) written = ioError("cannot sync " + tmp.string());
  if (!written) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return written;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return ioError("cannot rename " + tmp.string());
  }
  // Renamed: the old descriptor now points at an unlinked file, so any failure
  // from here on must stop the store rather than let appends go nowhere.
  ::close(fd);
  auto synced = syncDir(dir);
  fd = synced ? ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC) : -1;
  if (fd < 0) {
    failed_ = synced ? ioError("cannot open the new state journal") : synced.error();
    return *failed_;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  generation_ = generation;
  nextSeq_ = seq;
  journalBytes_ = file.size();
  checkpoint_ = checkpointValue;
  // Everything in memory is in the snapshot: pending changes are durable now.
  pending_.clear();
  durableBatch_ = pendingBatch_++;
  dirty_ = false;
  cv_.notify_all();
  return Ok{};
}

Result<void> SealedStateStore::commitLocked(std::unique_lock<std::mutex>& lock, const std::string& op) {
  if (failed_) return *failed_;
  pending_ += op;
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
      const std::uint64_t seq = nextSeq_++;
      const std::string hdr = header(instance_, generation_);
      const int fd = fd_;
      lock.unlock();
      const std::string record = sealRecord(journalKey_, hdr, seq, plaintext);
      secureWipe(plaintext.data(), plaintext.size());
      auto written = writeAll(fd, record);
      if (written && ::fdatasync(fd) != 0) written = ioError("the state journal cannot be synced");
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
  if (!force && now - lastPruneMs_ < 1000) return;
  lastPruneMs_ = now;
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

Result<void> SealedStateStore::admitLocked(std::int64_t now) {
  auto live = [this] { return jtis_.size() + grants_.size() + leases_.size(); };
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
  if (it == jtis_.end()) {
    SEALGATE_TRY(admitLocked(now));
    jtis_.emplace(k, exp);
  } else {
    it->second = exp;
  }
  jtiExpiry_[exp / 1000].push_back(k);
  std::string op(1, static_cast<char>(kOpJti));
  op.append(reinterpret_cast<const char*>(k.b.data()), k.b.size());
  putU64(op, static_cast<std::uint64_t>(exp));
  SEALGATE_TRY(commitLocked(lock, op));
  return true;
}

Result<std::uint32_t> SealedStateStore::takeUses(const std::string& grantId, std::uint32_t count,
                                                 std::uint32_t maxUses, Clock::time_point expiresAt) {
  if (count == 0) return makeError("INVALID_REQUEST", "a use count must be positive");
  if (grantId.size() > 1024) return makeError("INVALID_REQUEST", "grant ids are at most 1024 bytes");
  const std::int64_t now = nowMs();
  std::unique_lock lock(mu_);
  if (failed_) return *failed_;
  pruneLocked(now, false);
  auto it = grants_.find(grantId);
  if (it == grants_.end()) {
    if (maxUses < count) return makeError("GRANT_EXHAUSTED", "the grant has not enough uses left");
    SEALGATE_TRY(admitLocked(now));
    const std::int64_t exp = toMs(expiresAt);
    it = grants_.emplace(grantId, GrantEntry{maxUses, false, exp}).first;
    grantExpiry_[exp / 1000].push_back(grantId);
  }
  GrantEntry& g = it->second;
  if (g.revoked) return makeError("GRANT_REVOKED", "the grant has been revoked");
  if (g.remaining < count) return makeError("GRANT_EXHAUSTED", "the grant has not enough uses left");
  g.remaining -= count;
  const std::uint32_t remaining = g.remaining;
  SEALGATE_TRY(commitLocked(lock, opGrant(grantId, g.remaining, g.revoked, g.expMs)));
  return remaining;
}

Result<void> SealedStateStore::revoke(const std::string& grantId, Clock::time_point expiresAt) {
  if (grantId.size() > 1024) return makeError("INVALID_REQUEST", "grant ids are at most 1024 bytes");
  const std::int64_t now = nowMs();
  std::unique_lock lock(mu_);
  if (failed_) return *failed_;
  auto it = grants_.find(grantId);
  if (it == grants_.end()) {
    SEALGATE_TRY(admitLocked(now));
    const std::int64_t exp = toMs(expiresAt);
    it = grants_.emplace(grantId, GrantEntry{0, true, exp}).first;
    grantExpiry_[exp / 1000].push_back(grantId);
  }
  it->second.revoked = true;
  return commitLocked(lock, opGrant(grantId, it->second.remaining, true, it->second.expMs));
}

std::vector<StateStore::GrantState> SealedStateStore::grants() const {
  const std::int64_t now = nowMs();
  std::lock_guard lock(mu_);
  std::vector<GrantState> out;
  for (const auto& [id, g] : grants_) {
    if (g.expMs > now) out.push_back(GrantState{id, g.remaining, g.revoked, fromMs(g.expMs)});
  }
  return out;
}

Result<void> SealedStateStore::putLease(const Lease& lease) {
  if (lease.leaseId.empty() || lease.leaseId.size() > 1024) return makeError("INVALID_REQUEST", "bad lease id");
  std::unique_lock lock(mu_);
  if (failed_) return *failed_;
  if (!leases_.count(lease.leaseId)) SEALGATE_TRY(admitLocked(nowMs()));
  leases_[lease.leaseId] = lease;
  return commitLocked(lock, opLeasePut(lease));
}

Result<void> SealedStateStore::deleteLease(const std::string& leaseId) {
  if (leaseId.size() > 1024) return makeError("INVALID_REQUEST", "bad lease id");
  std::unique_lock lock(mu_);
  if (failed_) return *failed_;
  if (leases_.erase(leaseId) == 0) return Ok{};
  std::string op(1, static_cast<char>(kOpLeaseDel));
  putStr16(op, leaseId);
  return commitLocked(lock, op);
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
      auto caughtUp = counter_->increment();
      if (!caughtUp) return std::move(caughtUp).takeError();
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
    failed_ = stateError(state_errc::kRollback, "the TPM counter moved outside this appliance (expected " +
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
