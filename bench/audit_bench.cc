// Benchmarks of the signed audit log (issue 7). See docs/BENCHMARKS.md.
//
//   BM_JsonLinesAppend        baseline: the old stopgap sink, one write + fdatasync per event
//   BM_MerkleAppend/N         MerkleAuditLog::append with a checkpoint signed in SoftHSM2
//                             every N entries (N = 1, 100, 10000), one appender
//   BM_MerkleAppendMT/N       the same from 8 threads: group commit shares each fdatasync
//   BM_JsonLinesAppendMT      the baseline from 8 threads (one fdatasync each, serialised)
//   BM_VerifyBundle/E         verifyBundle of an E-entry export (E = 10^4, 10^5, 10^6)
//
// Files live under $SEALGATE_BENCH_DIR (default /var/tmp: a real disk, not tmpfs).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "appliance/audit/audit_log.h"
#include "appliance/keys/signing_keys.h"
#include "bench/audit_jsonl.h"
#include "core/audit_bundle.h"
#include "core/signed_note.h"
#include "hsm/key_store.h"
#include "tests/support/temp_token.h"

namespace {

using namespace sealgate;
using nlohmann::json;

[[noreturn]] void die(const char* what, const Error& e) {
  std::fprintf(stderr, "audit_bench: %s: %s\n", what, e.describe().c_str());
  std::abort();
}

hsm::KeyStore& keys() {
  static std::unique_ptr<hsm::KeyStore> k = [] {
    auto store = testing::openFreshToken("audit-bench");
    if (auto g = store->generateEcP256Key("sealgate-audit-es256-v1"); !g) die("keygen", g.error());
    return store;
  }();
  return *k;
}

std::string benchDir() {
  const char* base = std::getenv("SEALGATE_BENCH_DIR");
  std::string tmpl = std::string(base ? base : "/var/tmp") + "/sealgate-audit-bench-XXXXXX";
  if (!mkdtemp(tmpl.data())) std::abort();
  return tmpl;
}

// A typical authorize event (one item), ~400 bytes once enriched.
std::string sampleEvent(std::int64_t i) {
  return json{
      {"type", "authorize"},
      {"action", "authorize"},
      {"correlation_id", "c0ffee" + std::to_string(i)},
      {"decision_id", "dec" + std::to_string(i)},
      {"actor",
       {{"spiffe_id", "spiffe://acme/payments"}, {"cert_thumbprint", "p8ht8c7iWZKjGUf5KqiYFKBXz4Ca2ZhTS7Z0UBUqVGE"}}},
      {"tenant", "acme"},
      {"resource_refs", {"rr1:v1:dr3bpfyfxuaq5pgea4it3jbghk"}},
      {"results", {{{"index", 0}, {"decision", "allow"}, {"resource_ref", "rr1:v1:dr3bpfyfxuaq5pgea4it3jbghk"}}}},
      {"decision", "allow"},
      {"outcome", "granted"},
      {"grant_id", "OA9Y-4rOd4U9NpOYGcMWZQ"}}
      .dump();
}

std::unique_ptr<appliance::MerkleAuditLog> openLog(const std::string& dir, std::uint64_t every) {
  auto signer = appliance::hsmCheckpointSigner(keys(), "sealgate-audit-es256");
  if (!signer) die("signer", signer.error());
  appliance::AuditLogOptions o;
  o.dir = dir;
  o.checkpointEvery = every;
  o.checkpointInterval = std::chrono::milliseconds(3600000);
  o.appendTimeout = std::chrono::milliseconds(60000);
  auto log = appliance::MerkleAuditLog::open(o, std::move(*signer));
  if (!log) die("open", log.error());
  return std::move(*log);
}

void BM_JsonLinesAppend(benchmark::State& state) {
  const std::string dir = benchDir();
  auto sink = appliance::JsonLinesAuditSink::open(dir + "/events.jsonl");
  if (!sink) die("open", sink.error());
  std::int64_t i = 0;
  for (auto _ : state) {
    if (auto r = (*sink)->append(sampleEvent(i++)); !r) die("append", r.error());
  }
  state.SetItemsProcessed(state.iterations());
  sink->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_JsonLinesAppend)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_MerkleAppend(benchmark::State& state) {
  const std::string dir = benchDir();
  auto log = openLog(dir, static_cast<std::uint64_t>(state.range(0)));
  std::int64_t i = 0;
  for (auto _ : state) {
    if (auto r = log->append(sampleEvent(i++)); !r) die("append", r.error());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["checkpoints"] = static_cast<double>(log->checkpoints().size());
  log.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_MerkleAppend)->Arg(1)->Arg(100)->Arg(10000)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Shared between the threads of one multi-threaded run.
std::unique_ptr<appliance::MerkleAuditLog> gLog;
std::unique_ptr<appliance::JsonLinesAuditSink> gSink;
std::string gDir;

void BM_MerkleAppendMT(benchmark::State& state) {
  if (state.thread_index() == 0) {
    gDir = benchDir();
    gLog = openLog(gDir, static_cast<std::uint64_t>(state.range(0)));
  }
  std::int64_t i = state.thread_index() * 100000000LL;
  for (auto _ : state) {
    if (auto r = gLog->append(sampleEvent(i++)); !r) die("append", r.error());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    state.counters["events_per_fsync"] =
        gLog->batches() ? static_cast<double>(gLog->size()) / static_cast<double>(gLog->batches()) : 0;
    gLog.reset();
    std::filesystem::remove_all(gDir);
  }
}
BENCHMARK(BM_MerkleAppendMT)->Arg(100)->Threads(8)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_JsonLinesAppendMT(benchmark::State& state) {
  if (state.thread_index() == 0) {
    gDir = benchDir();
    auto sink = appliance::JsonLinesAuditSink::open(gDir + "/events.jsonl");
    if (!sink) die("open", sink.error());
    gSink = std::move(*sink);
  }
  std::int64_t i = state.thread_index() * 100000000LL;
  for (auto _ : state) {
    if (auto r = gSink->append(sampleEvent(i++)); !r) die("append", r.error());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    gSink.reset();
    std::filesystem::remove_all(gDir);
  }
}
BENCHMARK(BM_JsonLinesAppendMT)->Threads(8)->Unit(benchmark::kMicrosecond)->UseRealTime();

// An export of `n` entries in the appliance's bundle format, signed in the HSM
// (checkpoints every 1000 entries as with the default config).
std::string makeBundle(std::uint64_t n) {
  auto spki = keys().publicKeyDer("sealgate-audit-es256-v1");
  if (!spki) die("spki", spki.error());
  auto sign = [&](std::uint64_t size, const merkle::Hash& root) {
    const std::string text = note::formatCheckpoint({"sealgate", size, root});
    auto sig = keys().signEcdsaP256("sealgate-audit-es256-v1", asBytes(text), hsm::SignatureFormat::Der);
    if (!sig) die("sign", sig.error());
    return note::formatNote(text, {note::Signature{"sealgate", note::ecdsaKeyId(*spki), *sig}});
  };
  json entries = json::array(), leaves = json::array(), earlier = json::array();
  merkle::Tree tree;
  for (std::uint64_t i = 0; i < n; ++i) {
    json e = json::parse(sampleEvent(static_cast<std::int64_t>(i)));
    e["schema_version"] = 1;
    e["audit_index"] = i;
    e["event_id"] = "ev" + std::to_string(i);
    e["time"] = "2026-12-01T00:00:00.000Z";
    const std::string text = e.dump();
    const merkle::Hash h = merkle::leafHash(text);
    tree.append(h);
    entries.push_back(text);
    leaves.push_back(base64Std(h));
    if ((i + 1) % 1000 == 0 && i + 1 < n) earlier.push_back({{"size", i + 1}, {"note", sign(i + 1, tree.root())}});
  }
  json proofs = {{"consistency", json::array()}, {"inclusion", json::array()}};
  return json{{"format", audit::kBundleFormat},
              {"origin", "sealgate"},
              {"tree_size", n},
              {"checkpoint", sign(n, tree.root())},
              {"checkpoints", earlier},
              {"entries", entries},
              {"leaf_hashes", leaves},
              {"proofs", proofs}}
      .dump();
}

void BM_VerifyBundle(benchmark::State& state) {
  const std::string bundle = makeBundle(static_cast<std::uint64_t>(state.range(0)));
  audit::VerifyOptions o;
  o.spkiDer = *keys().publicKeyDer("sealgate-audit-es256-v1");
  for (auto _ : state) {
    auto r = audit::verifyBundle(bundle, o);
    if (!r) die("verify", r.error());
    benchmark::DoNotOptimize(r->root);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["bundle_MB"] = static_cast<double>(bundle.size()) / 1e6;
}
BENCHMARK(BM_VerifyBundle)->Arg(10000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
