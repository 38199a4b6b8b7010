#include "appliance/audit/audit_log.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "appliance/keys/signing_keys.h"
#include "appliance/telemetry/egress.h"
#include "core/audit_bundle.h"
#include "core/signed_note.h"
#include "tests/support/temp_token.h"

namespace sealgate::appliance {
namespace {

using nlohmann::json;

// One SoftHSM2 token (a real HSM) with the audit key, for the whole binary.
hsm::KeyStore& auditKeys() {
  static std::unique_ptr<hsm::KeyStore> keys = [] {
    auto k = testing::openFreshToken("audit-log-test");
    auto g = k->generateEcP256Key("sealgate-audit-es256-v1");
    if (!g) std::abort();
    return k;
  }();
  return *keys;
}

CheckpointSigner signer() {
  auto s = hsmCheckpointSigner(auditKeys(), "sealgate-audit-es256");
  if (!s) std::abort();
  return std::move(*s);
}

std::string tempDir() {
  char tmpl[] = "/tmp/sealgate-auditlog-XXXXXX";
  return mkdtemp(tmpl);
}

AuditLogOptions options(const std::string& dir, std::uint64_t every = 4) {
  AuditLogOptions o;
  o.dir = dir;
  o.origin = "sealgate";
  o.checkpointEvery = every;
  o.checkpointInterval = std::chrono::milliseconds(60000);
  o.appendTimeout = std::chrono::milliseconds(5000);
  return o;
}

std::string event(int i) {
  return json{{"type", "authorize"}, {"decision_id", "d" + std::to_string(i)}, {"tenant", "acme"}}.dump();
}

audit::VerifyOptions pinned() {
  audit::VerifyOptions o;
  o.spkiDer = signer().spkiDer;
  return o;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A full disk while a checkpoint is written (here a file-size limit: the write
// stops part-way with EFBIG): the partial record is taken back, so the
// checkpoints written once there is room again follow a whole record and the log
// opens again.
TEST(MerkleAuditLog, ACheckpointCutShortByAFullDiskIsTakenBack) {
  const std::string dir = tempDir();
  auto previous = ::signal(SIGXFSZ, SIG_IGN);  // as sealgated does: EFBIG, not a signal
  {
    auto log = MerkleAuditLog::open(options(dir, 1000), signer());
    ASSERT_TRUE(log.ok()) << log.error().describe();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->append(R"({"type":"t"})").ok());
    ASSERT_TRUE((*log)->checkpointNow().ok());
    ASSERT_TRUE((*log)->append(R"({"type":"t"})").ok());
    const auto checkpointBytes = std::filesystem::file_size(dir + "/checkpoints.jsonl");
    rlimit saved{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
    rlimit small = saved;
    small.rlim_cur = checkpointBytes + 20;  // room for part of a record only
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    auto cut = (*log)->checkpointNow();
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
    EXPECT_FALSE(cut.ok());
    EXPECT_EQ(std::filesystem::file_size(dir + "/checkpoints.jsonl"), checkpointBytes) << "the partial record is gone";
    ASSERT_TRUE((*log)->append(R"({"type":"t"})").ok());
    auto signedAgain = (*log)->checkpointNow();
    ASSERT_TRUE(signedAgain.ok()) << signedAgain.error().describe();
    EXPECT_EQ(signedAgain->size, 5u);
  }
  ::signal(SIGXFSZ, previous);
  auto reopened = MerkleAuditLog::open(options(dir, 1000), signer());
  ASSERT_TRUE(reopened.ok()) << reopened.error().describe();
  EXPECT_EQ((*reopened)->size(), 5u);
  EXPECT_TRUE(audit::verifyBundle(*(*reopened)->exportBundle(), pinned()).ok());
}

TEST(MerkleAuditLog, OneWriterAtATime) {
  const std::string dir = tempDir();
  {
    auto first = MerkleAuditLog::open(options(dir), signer());
    ASSERT_TRUE(first.ok()) << first.error().describe();
    ASSERT_TRUE((*first)->append(R"({"type":"t"})").ok());
    auto second = MerkleAuditLog::open(options(dir), signer());
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, ErrorCode::AuditUnavailable);
    EXPECT_NE(second.error().message.find("another process"), std::string::npos);
    ASSERT_TRUE((*first)->append(R"({"type":"t"})").ok()) << "the refused opener changed nothing";
  }
  auto again = MerkleAuditLog::open(options(dir), signer());
  ASSERT_TRUE(again.ok()) << again.error().describe();
  EXPECT_EQ((*again)->size(), 2u);
}

TEST(MerkleAuditLog, RefusesAnEventCarryingALiveSecretValue) {
  const std::string dir = tempDir();
  auto log = MerkleAuditLog::open(options(dir), signer());
  ASSERT_TRUE(log.ok()) << log.error().describe();
  auto value = Secret::copyFrom(std::string_view("leaked-slot-value"));
  ASSERT_TRUE(value.ok());
  EgressScope scope;  // the request's, as the HTTP server opens it
  auto live = scope.guard().protect(*value);
  const std::string leaky = json{{"type", "execute"}, {"detail", "leaked-slot-value"}}.dump();
  auto refused = (*log)->append(leaky);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::EgressBlocked);
  EXPECT_EQ((*log)->size(), 0u);
  ASSERT_TRUE((*log)->append(event(1)).ok());  // clean events still go through
  live.release();
  ASSERT_TRUE((*log)->append(leaky).ok());  // no longer live: no longer a secret to the guard
  EXPECT_EQ((*log)->size(), 2u);
  const std::string stored = slurp(dir + "/entries.jsonl");
  EXPECT_EQ(stored.find("[REDACTED]"), std::string::npos);  // never a scrubbed copy
}

TEST(MerkleAuditLog, AnotherRequestsLiveValueDoesNotBlockAnEvent) {
  // Issue 12: a value live in one request made every tenant's appends fail.
  // Appends are checked against the appending thread's request scope only.
  const std::string dir = tempDir();
  auto log = MerkleAuditLog::open(options(dir), signer());
  ASSERT_TRUE(log.ok()) << log.error().describe();
  auto value = Secret::copyFrom(std::string_view("authorize"));
  ASSERT_TRUE(value.ok());
  EgressScope scope;
  auto live = scope.guard().protect(*value);
  ASSERT_EQ(egressGuard().check(event(1)).error().code, ErrorCode::EgressBlocked);  // this request: blocked
  Result<std::uint64_t> other = makeError(ErrorCode::Internal, "not run");
  std::thread([&] {
    EgressScope otherRequest;
    other = (*log)->append(event(2));  // "type":"authorize", in another request
  }).join();
  ASSERT_TRUE(other.ok()) << other.error().describe();
  EXPECT_EQ((*log)->size(), 1u);
}

TEST(MerkleAuditLog, AppendsEnrichedEventsAndExportsAVerifiableBundle) {
  const std::string dir = tempDir();
  auto log = MerkleAuditLog::open(options(dir), signer());
  ASSERT_TRUE(log.ok()) << log.error().describe();
  for (int i = 0; i < 10; ++i) {
    auto idx = (*log)->append(event(i));
    ASSERT_TRUE(idx.ok()) << idx.error().describe();
    EXPECT_EQ(*idx, static_cast<std::uint64_t>(i));
  }
  auto entries = (*log)->read(0, 10);
  ASSERT_TRUE(entries.ok());
  json first = json::parse((*entries)[3]);
  EXPECT_EQ(first["schema_version"], 1);
  EXPECT_EQ(first["audit_index"], 3);
  EXPECT_EQ(first["decision_id"], "d3");
  EXPECT_TRUE(first["event_id"].is_string());
  EXPECT_TRUE(first["time"].is_string());
  // Checkpoints every 4 entries: sizes 4 and 8 are signed by now.
  auto cps = (*log)->checkpoints();
  ASSERT_GE(cps.size(), 2u);
  EXPECT_EQ(cps[0].size, 4u);
  EXPECT_EQ(cps[1].size, 8u);
  auto bundle = (*log)->exportBundle();
  ASSERT_TRUE(bundle.ok()) << bundle.error().describe();
  auto report = audit::verifyBundle(*bundle, pinned());
  ASSERT_TRUE(report.ok()) << report.error().describe();
  EXPECT_EQ(report->treeSize, 10u);
  EXPECT_GE(report->checkpoints, 3u);
  // The checkpoint note is C2SP: origin, size, root; key ID of the HSM's key.
  auto note = note::parseNote(json::parse(*bundle)["checkpoint"].get<std::string>());
  ASSERT_TRUE(note.ok());
  EXPECT_EQ(note->signatures[0].keyId, note::ecdsaKeyId(signer().spkiDer));
  EXPECT_EQ(note->text.substr(0, 12), "sealgate\n10\n");
  std::filesystem::remove_all(dir);
}

TEST(MerkleAuditLog, InclusionAndConsistencyProofsVerify) {
  const std::string dir = tempDir();
  auto log = MerkleAuditLog::open(options(dir, 1000), signer());
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 13; ++i) ASSERT_TRUE((*log)->append(event(i)).ok());
  const auto leaves = (*log)->leafHashes(13);
  const auto root13 = merkle::rootOf(leaves);
  auto incl = (*log)->inclusionProof(5, 13);
  ASSERT_TRUE(incl.ok());
  EXPECT_TRUE(merkle::verifyInclusion(5, 13, leaves[5], *incl, root13).ok());
  auto cons = (*log)->consistencyProof(6, 13);
  ASSERT_TRUE(cons.ok());
  EXPECT_TRUE(merkle::verifyConsistency(6, 13, merkle::rootOf(std::span(leaves).subspan(0, 6)), root13, *cons).ok());
  EXPECT_FALSE((*log)->inclusionProof(13, 13).ok());
  EXPECT_FALSE((*log)->consistencyProof(14, 13).ok());
  std::filesystem::remove_all(dir);
}

TEST(MerkleAuditLog, ReopensAndContinuesTheSameTreeWithAShutdownCheckpoint) {
  const std::string dir = tempDir();
  {
    auto log = MerkleAuditLog::open(options(dir, 1000), signer());
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*log)->append(event(i)).ok());
    EXPECT_TRUE((*log)->checkpoints().empty());
  }  // shutdown: a checkpoint over all 5
  auto log = MerkleAuditLog::open(options(dir, 1000), signer());
  ASSERT_TRUE(log.ok()) << log.error().describe();
  ASSERT_EQ((*log)->checkpoints().size(), 1u);
  EXPECT_EQ((*log)->checkpoints()[0].size, 5u);
  EXPECT_EQ(*(*log)->append(event(5)), 5u);
  auto bundle = (*log)->exportBundle();
  ASSERT_TRUE(bundle.ok());
  auto report = audit::verifyBundle(*bundle, pinned());
  ASSERT_TRUE(report.ok()) << report.error().describe();
  EXPECT_EQ(report->treeSize, 6u);
  std::filesystem::remove_all(dir);
}

TEST(MerkleAuditLog, ATornFinalRecordIsTruncatedAndTheLogStillVerifies) {
  const std::string dir = tempDir();
  {
    auto log = MerkleAuditLog::open(options(dir), signer());
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 6; ++i) ASSERT_TRUE((*log)->append(event(i)).ok());
  }
  // A crash in the middle of a write: half a record, no newline (never acknowledged).
  std::ofstream(dir + "/entries.jsonl", std::ios::app) << R"({"schema_version":1,"audit_index":6,"ty)";
  std::ofstream(dir + "/checkpoints.jsonl", std::ios::app) << R"({"size":7,"no)";
  auto log = MerkleAuditLog::open(options(dir), signer());
  ASSERT_TRUE(log.ok()) << log.error().describe();
  EXPECT_EQ((*log)->size(), 6u);
  EXPECT_EQ(*(*log)->append(event(6)), 6u);
  auto report = audit::verifyBundle(*(*log)->exportBundle(), pinned());
  ASSERT_TRUE(report.ok()) << report.error().describe();
  EXPECT_EQ(report->treeSize, 7u);
  std::filesystem::remove_all(dir);
}

TEST(MerkleAuditLog, ALogThatDisagreesWithItsSignedCheckpointsRefusesToOpen) {
  const std::string dir = tempDir();
  {
    auto log = MerkleAuditLog::open(options(dir), signer());
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 9; ++i) ASSERT_TRUE((*log)->append(event(i)).ok());
  }
  const std::string original = slurp(dir + "/entries.jsonl");
  // Each changed byte (a flipped letter of a decision_id) is found on open.
  for (int target : {0, 3, 7}) {
    std::string changed = original;
    const auto at = changed.find("\"d" + std::to_string(target) + "\"");
    ASSERT_NE(at, std::string::npos);
    changed[at + 1] = 'x';
    std::ofstream(dir + "/entries.jsonl", std::ios::trunc | std::ios::binary) << changed;
    auto log = MerkleAuditLog::open(options(dir), signer());
    ASSERT_FALSE(log.ok()) << target;
    EXPECT_EQ(log.error().code, ErrorCode::AuditLogCorrupt);
  }
  // Removing acknowledged entries (the last complete line) is found too.
  std::string shorter = original.substr(0, original.rfind('\n', original.size() - 2) + 1);
  std::ofstream(dir + "/entries.jsonl", std::ios::trunc | std::ios::binary) << shorter;
  auto truncated = MerkleAuditLog::open(options(dir), signer());
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().code, ErrorCode::AuditLogCorrupt);
  std::ofstream(dir + "/entries.jsonl", std::ios::trunc | std::ios::binary) << original;
  EXPECT_TRUE(MerkleAuditLog::open(options(dir), signer()).ok());
  std::filesystem::remove_all(dir);
}

TEST(MerkleAuditLog, ATamperedStoredEntryIsNamedInTheExport) {
  const std::string dir = tempDir();
  auto log = MerkleAuditLog::open(options(dir, 1000), signer());
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 8; ++i) ASSERT_TRUE((*log)->append(event(i)).ok());
  // Change entry 5 on disk while running: the export reads the file back.
  std::string text = slurp(dir + "/entries.jsonl");
  const auto at = text.find("\"d5\"");
  text[at + 2] = '9';
  std::ofstream(dir + "/entries.jsonl", std::ios::in | std::ios::out | std::ios::binary)
      .write(text.data(), static_cast<std::streamsize>(text.size()));
  auto bundle = (*log)->exportBundle();
  ASSERT_TRUE(bundle.ok());
  auto report = audit::verifyBundle(*bundle, pinned());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, ErrorCode::EntryMismatch);
  EXPECT_EQ(report.error().native, 5u);
  std::filesystem::remove_all(dir);
}

TEST(MerkleAuditLog, GroupCommitUnderConcurrentAppenders) {
  const std::string dir = tempDir();
  auto log = MerkleAuditLog::open(options(dir, 50), signer());
  ASSERT_TRUE(log.ok());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        if (!(*log)->append(event(t * 1000 + i)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ((*log)->size(), 320u);
  auto report = audit::verifyBundle(*(*log)->exportBundle(), pinned());
  ASSERT_TRUE(report.ok()) << report.error().describe();
  std::filesystem::remove_all(dir);
}

TEST(MerkleAuditLog, SampledOutEventsAreCountedInTheNextEvent) {
  const std::string dir = tempDir();
  auto log = MerkleAuditLog::open(options(dir), signer());
  ASSERT_TRUE(log.ok());
  (*log)->sampledOut();
  (*log)->sampledOut();
  (*log)->sampledOut();
  ASSERT_TRUE((*log)->append(event(0)).ok());
  ASSERT_TRUE((*log)->append(event(1)).ok());
  auto entries = (*log)->read(0, 2);
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(json::parse((*entries)[0])["sampled_out"], 3);
  EXPECT_FALSE(json::parse((*entries)[1]).contains("sampled_out"));
  std::filesystem::remove_all(dir);
}

TEST(MerkleAuditLog, RejectsNonObjectEvents) {
  const std::string dir = tempDir();
  auto log = MerkleAuditLog::open(options(dir), signer());
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->append("[1]").error().code, ErrorCode::AuditInvalidEvent);
  EXPECT_EQ((*log)->append("{").error().code, ErrorCode::AuditInvalidEvent);
  EXPECT_EQ((*log)->size(), 0u);
  std::filesystem::remove_all(dir);
}

TEST(MerkleAuditLog, AFullDiskDeniesWithAuditUnavailableAndLosesNothingAcknowledged) {
  const std::string dir = tempDir();
  auto log = MerkleAuditLog::open(options(dir, 1000), signer());
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->append(event(i)).ok());
  const auto used = std::filesystem::file_size(dir + "/entries.jsonl");
  // A file size limit makes the next write fail (EFBIG) like a full disk.
  struct rlimit old {};
  getrlimit(RLIMIT_FSIZE, &old);
  auto oldHandler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = used + 10;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  auto r = (*log)->append(event(3));
  const bool healthyDuring = (*log)->healthy();
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, oldHandler);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::AuditUnavailable);
  EXPECT_FALSE(healthyDuring);
  // The partial bytes were taken back: the acknowledged entries still verify,
  // and once there is room again the log goes on.
  EXPECT_EQ(std::filesystem::file_size(dir + "/entries.jsonl"), used);
  EXPECT_EQ(*(*log)->append(event(4)), 3u);
  EXPECT_TRUE((*log)->healthy());
  auto report = audit::verifyBundle(*(*log)->exportBundle(), pinned());
  ASSERT_TRUE(report.ok()) << report.error().describe();
  EXPECT_EQ(report->treeSize, 4u);
  std::filesystem::remove_all(dir);
}

TEST(MerkleAuditLog, AStuckSignerDoesNotHangAppendersBeyondTheBoundedWait) {
  const std::string dir = tempDir();
  // The writer thread signs checkpoints; a signer that blocks (a hung HSM) holds
  // it. Appenders must get AUDIT_UNAVAILABLE after append_timeout, not hang.
  auto s = signer();
  std::mutex gate;
  gate.lock();
  auto inner = s.sign;
  s.sign = [&gate, inner](const std::string& text) {
    std::lock_guard wait(gate);
    return inner(text);
  };
  AuditLogOptions o = options(dir, 1);
  o.appendTimeout = std::chrono::milliseconds(200);
  {
    auto log = MerkleAuditLog::open(o, s);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->append(event(0)).ok());  // committed; then the writer blocks signing
    auto r = (*log)->append(event(1));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::AuditUnavailable);
    gate.unlock();
  }
  std::filesystem::remove_all(dir);
}

TEST(MerkleAuditLog, UnwritableDirectoryFailsClosed) {
  auto log = MerkleAuditLog::open(options("/proc/sealgate-audit-cannot-exist"), signer());
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.error().code, ErrorCode::AuditUnavailable);
}

}  // namespace
}  // namespace sealgate::appliance

namespace sealgate::appliance {
namespace {

// Issue 12 item 7: a log cut at its end together with its checkpoints (or with
// checkpoints.jsonl deleted) is self-consistent; only the head anchored outside
// the log catches it.
TEST(MerkleAuditLogAnchor, DurableHeadsAreReportedAndACutOrReplacedLogRefusesToOpen) {
  const std::string dir = tempDir();
  std::vector<merkle::TreeHead> heads;
  std::mutex headsMu;
  {
    AuditLogOptions o = options(dir, /*every=*/2);
    o.onDurableHead = [&](const merkle::TreeHead& h) {
      std::lock_guard lock(headsMu);
      heads.push_back(h);
    };
    auto log = MerkleAuditLog::open(o, signer());
    ASSERT_TRUE(log.ok()) << log.error().describe();
    for (int i = 0; i < 6; ++i) ASSERT_TRUE((*log)->append(event(i)).ok());
  }
  ASSERT_FALSE(heads.empty());
  for (std::size_t i = 1; i < heads.size(); ++i) EXPECT_GT(heads[i].size, heads[i - 1].size);
  const merkle::TreeHead anchor = heads.back();
  ASSERT_EQ(anchor.size, 6u);
  const std::string entries = slurp(dir + "/entries.jsonl");
  const std::string checkpoints = slurp(dir + "/checkpoints.jsonl");
  auto openWith = [&](std::optional<merkle::TreeHead> a) {
    AuditLogOptions o = options(dir, 2);
    o.anchor = a;
    return MerkleAuditLog::open(o, signer());
  };
  auto rewrite = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name, std::ios::binary | std::ios::trunc) << text;
  };
  // Intact: opens, with the anchor and without.
  ASSERT_TRUE(openWith(anchor).ok());
  // Cut the last two entries and every checkpoint over them.
  std::string cut = entries;
  for (int i = 0; i < 2; ++i) cut.erase(cut.rfind('\n', cut.size() - 2) + 1);
  std::string keptCheckpoints;
  std::istringstream lines(checkpoints);
  for (std::string line; std::getline(lines, line);) {
    if (json::parse(line)["size"].get<std::uint64_t>() <= 4) keptCheckpoints += line + "\n";
  }
  rewrite("entries.jsonl", cut);
  rewrite("checkpoints.jsonl", keptCheckpoints);
  ASSERT_TRUE(openWith(std::nullopt).ok()) << "without the anchor the cut log is self-consistent";
  rewrite("entries.jsonl", cut);  // the open above rewrote nothing, but be explicit
  auto refused = openWith(anchor);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, audit_errc::kRollback);
  // A different history of the same length, checkpoints deleted.
  std::string forged = entries;
  forged.replace(forged.find("\"d0\""), 4, "\"dX\"");
  rewrite("entries.jsonl", forged);
  std::filesystem::remove(dir + "/checkpoints.jsonl");
  refused = openWith(anchor);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, audit_errc::kRollback);
  // The original again: opens, and a longer log extends the anchor.
  rewrite("entries.jsonl", entries);
  rewrite("checkpoints.jsonl", checkpoints);
  auto reopened = openWith(anchor);
  ASSERT_TRUE(reopened.ok()) << reopened.error().describe();
  ASSERT_TRUE((*reopened)->append(event(7)).ok());
  reopened->reset();
  EXPECT_TRUE(openWith(anchor).ok());
}

}  // namespace
}  // namespace sealgate::appliance
