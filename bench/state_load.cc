// sealgate-state-load: durable anti-replay inserts and use-count decrements in
// the sealed state store, against Redis (SET NX EX / DECR with appendonly yes,
// appendfsync always) on the same machine, in the same run, at the same client
// concurrency; then how latency and bytes per entry change from 10k to 10M live
// entries. bench/run_state_bench.sh starts Redis and runs this; results are in
// docs/BENCHMARKS.md.
//
// Both sides are driven the same way: C threads, each issuing one synchronous
// operation at a time (a Redis connection per thread), for a fixed duration.
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include "appliance/keys/data_key_sealer.h"
#include "appliance/state/sealed_state_store.h"
#include "tests/support/temp_token.h"

using namespace sealgate;
using Clock = std::chrono::steady_clock;

namespace {

struct Run {
  double opsPerSec = 0;
  double p50us = 0, p99us = 0;
  std::uint64_t errors = 0;
};

// `op(thread, i)` returns false on an error. Latencies of every op are kept.
Run measure(int threads, double seconds, const std::function<bool(int, std::uint64_t)>& op) {
  std::vector<std::vector<std::uint32_t>> lat(static_cast<std::size_t>(threads));
  std::atomic<std::uint64_t> errors{0};
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto& mine = lat[static_cast<std::size_t>(t)];
      for (std::uint64_t i = 0; Clock::now() < end; ++i) {
        const auto a = Clock::now();
        if (!op(t, i)) ++errors;
        mine.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - a).count()));
      }
    });
  }
  for (auto& th : pool) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<std::uint32_t> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  Run r;
  r.errors = errors;
  if (all.empty()) return r;
  r.opsPerSec = static_cast<double>(all.size()) / elapsed;
  r.p50us = all[all.size() / 2];
  r.p99us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  return r;
}

std::size_t rssBytes() {
  std::ifstream in("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

class Redis {
 public:
  Redis(const std::string& host, int port) : c_(redisConnect(host.c_str(), port)) {
    if (!c_ || c_->err) throw std::runtime_error("cannot connect to redis");
  }
  ~Redis() { redisFree(c_); }
  // true when the reply is not an error (SET NX returns nil on "exists": also true).
  bool command(const char* fmt, const std::string& a) {
    auto* r = static_cast<redisReply*>(redisCommand(c_, fmt, a.c_str()));
    const bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    return ok;
  }
  void pipelineSetNx(std::uint64_t from, std::uint64_t count) {
    for (std::uint64_t i = 0; i < count; ++i) {
      redisAppendCommand(c_, "SET live:%llu 1 NX EX 3600", static_cast<unsigned long long>(from + i));
    }
    for (std::uint64_t i = 0; i < count; ++i) {
      void* r = nullptr;
      if (redisGetReply(c_, &r) != REDIS_OK) throw std::runtime_error("redis pipeline failed");
      freeReplyObject(r);
    }
  }
  long long infoField(const std::string& section, const std::string& field) {
    auto* r = static_cast<redisReply*>(redisCommand(c_, "INFO %s", section.c_str()));
    std::string text = r && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : "";
    if (r) freeReplyObject(r);
    const auto at = text.find(field + ":");
    return at == std::string::npos ? -1 : std::atoll(text.c_str() + at + field.size() + 1);
  }
  long long dbsize() {
    auto* r = static_cast<redisReply*>(redisCommand(c_, "DBSIZE"));
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) freeReplyObject(r);
    return n;
  }

 private:
  redisContext* c_;
};

std::uint64_t dirBytes(const std::string& dir) {
  std::uint64_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) n += e.file_size();
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"sealgate-state-load: the sealed state store against Redis appendfsync always"};
  std::string dir, redisHost = "127.0.0.1", redisDir;
  int redisPort = 0;
  double seconds = 5;
  std::vector<int> concurrency{1, 16, 64};
  std::vector<std::uint64_t> scales{10000, 100000, 1000000, 10000000};
  cli.add_option("--dir", dir, "folder for the state (same filesystem as Redis's)")->required();
  cli.add_option("--redis-port", redisPort, "Redis on 127.0.0.1 (appendonly yes, appendfsync always)")->required();
  cli.add_option("--redis-dir", redisDir, "Redis's data folder (for its AOF size)")->required();
  cli.add_option("--seconds", seconds, "duration of each measured run")->check(CLI::Range(0.5, 60.0));
  cli.add_option("--concurrency", concurrency, "client threads for the throughput runs");
  cli.add_option("--scales", scales, "live-entry counts for the scale runs");
  CLI11_PARSE(cli, argc, argv);

  auto keys = testing::openFreshToken("state-bench");
  if (!keys->generateAes256Key("sealgate-kek")) return 1;
  appliance::HsmTpmDataKeySealer sealer(*keys, "sealgate-kek", nullptr, {});
  appliance::SealedStateOptions options;
  options.dir = dir + "/state";
  options.commitWait = std::chrono::seconds(30);
  options.maxLiveEntries = 100'000'000;
  options.compactMinBytes = 1ull << 40;  // no compaction during the runs
  if (auto r = appliance::SealedStateStore::initialize(options, sealer, {}); !r) {
    std::cerr << r.error().describe() << "\n";
    return 1;
  }
  auto opened = appliance::SealedStateStore::open(options, sealer, {});
  if (!opened) {
    std::cerr << opened.error().describe() << "\n";
    return 1;
  }
  std::unique_ptr<appliance::SealedStateStore> store = std::move(*opened);
  const auto exp = std::chrono::system_clock::now() + std::chrono::hours(1);

  std::cout << "### Throughput and latency (" << seconds << " s per run)\n\n"
            << "| operation | clients | sealgate ops/s | p50 µs | p99 µs | Redis ops/s | p50 µs | p99 µs |\n"
            << "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (int c : concurrency) {
    std::vector<std::unique_ptr<Redis>> conns;
    for (int t = 0; t < c; ++t) conns.push_back(std::make_unique<Redis>(redisHost, redisPort));
    const std::string tag = std::to_string(c);
    Run sgJti = measure(c, seconds, [&](int t, std::uint64_t i) {
      auto r = store->rememberOnce("jti-" + tag + "-" + std::to_string(t) + "-" + std::to_string(i), exp);
      return r.ok() && *r;
    });
    Run rdJti = measure(c, seconds, [&](int t, std::uint64_t i) {
      return conns[static_cast<std::size_t>(t)]->command(
          "SET %s 1 NX EX 3600", "jti-" + tag + "-" + std::to_string(t) + "-" + std::to_string(i));
    });
    for (int t = 0; t < c; ++t)
      conns[static_cast<std::size_t>(t)]->command("SET %s 100000000", "g-" + tag + "-" + std::to_string(t));
    Run sgUse = measure(c, seconds, [&](int t, std::uint64_t) {
      return store->takeUse("g-" + tag + "-" + std::to_string(t), 100000000, exp).ok();
    });
    Run rdUse = measure(c, seconds, [&](int t, std::uint64_t) {
      return conns[static_cast<std::size_t>(t)]->command("DECR %s", "g-" + tag + "-" + std::to_string(t));
    });
    auto row = [&](const char* what, const Run& a, const Run& b) {
      std::printf("| %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |\n", what, c, a.opsPerSec, a.p50us, a.p99us,
                  b.opsPerSec, b.p50us, b.p99us);
      if (a.errors || b.errors)
        std::fprintf(stderr, "errors: sealgate %llu, redis %llu\n", static_cast<unsigned long long>(a.errors),
                     static_cast<unsigned long long>(b.errors));
    };
    row("anti-replay insert (rememberOnce / SET NX EX)", sgJti, rdJti);
    row("use-count decrement (takeUse / DECR)", sgUse, rdUse);
    std::fflush(stdout);
  }

  // Scale: a fresh store and an empty Redis, filled to each size in turn.
  store.reset();
  std::filesystem::remove_all(options.dir);
  if (!appliance::SealedStateStore::initialize(options, sealer, {})) return 1;
  store = std::move(*appliance::SealedStateStore::open(options, sealer, {}));
  Redis admin(redisHost, redisPort);
  admin.command("FLUSHALL%s", "");
  const std::size_t rss0 = rssBytes();
  const long long redisMem0 = admin.infoField("memory", "used_memory");
  std::cout
      << "\n### Scale: live entries (insert latency with 16 clients, " << seconds << " s)\n\n"
      << "| live entries | sealgate p50 µs | p99 µs | ops/s | RSS B/entry | journal B/entry | restart s "
         "| compaction s | snapshot B/entry | Redis p50 µs | p99 µs | ops/s | used_memory B/entry | AOF B/entry |\n"
      << "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  std::uint64_t filled = 0;
  for (std::uint64_t target : scales) {
    // Fill through the public API: 256 threads, so each group commit carries ~256 entries.
    const std::uint64_t need = target - filled;
    std::atomic<std::uint64_t> next{filled};
    std::vector<std::thread> fill;
    for (int t = 0; t < 256; ++t) {
      fill.emplace_back([&] {
        for (std::uint64_t i; (i = next++) < target;) {
          if (!store->rememberOnce("live-" + std::to_string(i), exp)) std::abort();
        }
      });
    }
    for (std::uint64_t i = 0; i < need; i += 10000)
      admin.pipelineSetNx(filled + i, std::min<std::uint64_t>(10000, need - i));
    for (auto& th : fill) th.join();
    filled = target;

    std::vector<std::unique_ptr<Redis>> conns;
    for (int t = 0; t < 16; ++t) conns.push_back(std::make_unique<Redis>(redisHost, redisPort));
    const std::string tag = "s" + std::to_string(target);
    Run sg = measure(16, seconds, [&](int t, std::uint64_t i) {
      auto r = store->rememberOnce(tag + "-" + std::to_string(t) + "-" + std::to_string(i), exp);
      return r.ok() && *r;
    });
    Run rd = measure(16, seconds, [&](int t, std::uint64_t i) {
      return conns[static_cast<std::size_t>(t)]->command("SET %s 1 NX EX 3600",
                                                         tag + "-" + std::to_string(t) + "-" + std::to_string(i));
    });
    const auto st = store->status();
    const double live = static_cast<double>(st.jtis + st.grants);
    const double rssPerEntry = static_cast<double>(rssBytes() - rss0) / live;
    const double journalPerEntry = static_cast<double>(st.journalBytes) / live;
    // Restart: close, replay the whole journal, append a checkpoint.
    const auto t0 = Clock::now();
    store.reset();
    store = std::move(*appliance::SealedStateStore::open(options, sealer, {}));
    const double reopenSec = std::chrono::duration<double>(Clock::now() - t0).count();
    // Compaction: the journal rewritten as a snapshot of the live entries (fsync'ed).
    const auto t1 = Clock::now();
    if (!store->compact()) return 1;
    const double compactSec = std::chrono::duration<double>(Clock::now() - t1).count();
    const double snapshotPerEntry = static_cast<double>(store->status().journalBytes) / live;
    const long long keysNow = admin.dbsize();
    const double redisMem =
        static_cast<double>(admin.infoField("memory", "used_memory") - redisMem0) / static_cast<double>(keysNow);
    const double aof = static_cast<double>(dirBytes(redisDir)) / static_cast<double>(keysNow);
    std::printf("| %llu | %.0f | %.0f | %.0f | %.0f | %.1f | %.2f | %.2f | %.1f | %.0f | %.0f | %.0f | %.0f | %.1f |\n",
                static_cast<unsigned long long>(target), sg.p50us, sg.p99us, sg.opsPerSec, rssPerEntry, journalPerEntry,
                reopenSec, compactSec, snapshotPerEntry, rd.p50us, rd.p99us, rd.opsPerSec, redisMem, aof);
    std::fflush(stdout);
  }
  return 0;
}
