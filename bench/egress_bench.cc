// The egress guard's scrub throughput against, in the same run, a naive
// std::string_view::find per pattern over the same patterns and a plain memcpy
// of the same text; the cost of scrub with nothing live; the cost of an
// automaton rebuild (protect + unregister); and what one /v1/execute pays for its
// own request scope (docs/BENCHMARKS.md, "Egress guard").
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/egress_guard.h"
#include "core/egress_patterns.h"
#include "core/encoding.h"
#include "core/slot_values.h"

namespace {

using sealgate::EgressGuard;
using sealgate::Secret;

// 32 characters of [A-Za-z0-9], like API keys and generated passwords.
std::vector<std::string> values(std::size_t count) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::mt19937 rng(42);
  std::vector<std::string> out(count);
  for (auto& v : out) {
    for (int i = 0; i < 32; ++i) v.push_back(kChars[rng() % 62]);
  }
  return out;
}

// JSON log lines with random identifiers, carrying no live value: the common case.
std::string text(std::size_t size) {
  std::mt19937 rng(7);
  std::string out;
  while (out.size() < size) {
    out += R"({"ts":"2024-05-01T12:00:00.000Z","level":"info","event":"http_request","route":"/v1/execute",)";
    out +=
        R"("correlation_id":")" + sealgate::hexLower(sealgate::asBytes(std::to_string(rng()))) + R"(","status":200})";
    out += '\n';
  }
  out.resize(size);
  return out;
}

struct LiveValues {
  explicit LiveValues(EgressGuard& guard, std::size_t count) {
    for (const auto& v : values(count)) {
      auto secret = Secret::copyFrom(v);
      registrations.push_back(guard.protect(*secret));
    }
  }
  std::vector<EgressGuard::Registration> registrations;
};

void BM_Scrub(benchmark::State& state) {
  EgressGuard guard;
  LiveValues live(guard, static_cast<std::size_t>(state.range(1)));
  std::string t = text(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(guard.scrub(t));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void BM_NaiveFindPerPattern(benchmark::State& state) {
  std::vector<std::string> patterns;
  for (const auto& v : values(static_cast<std::size_t>(state.range(1)))) {
    for (const auto& p : sealgate::egressPatterns(sealgate::asBytes(v))) patterns.emplace_back(p.begin(), p.end());
  }
  const std::string t = text(static_cast<std::size_t>(state.range(0)));
  const std::string_view view(t);
  for (auto _ : state) {
    for (const auto& p : patterns) benchmark::DoNotOptimize(view.find(p));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
  state.counters["patterns"] = static_cast<double>(patterns.size());
}

void BM_Memcpy(benchmark::State& state) {
  const std::string t = text(static_cast<std::size_t>(state.range(0)));
  std::string copy(t.size(), '\0');
  for (auto _ : state) {
    std::memcpy(copy.data(), t.data(), t.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void BM_ScrubNothingLive(benchmark::State& state) {
  EgressGuard guard;
  std::string t = text(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(guard.scrub(t));
}

// One protect() and its unregistration, i.e. two rebuilds with `range(0)` values live.
void BM_ProtectAndUnregister(benchmark::State& state) {
  EgressGuard guard;
  LiveValues live(guard, static_cast<std::size_t>(state.range(0)) - 1);
  auto secret = Secret::copyFrom(std::string_view("one-more-slot-value-0123456789ab"));
  for (auto _ : state) {
    auto registration = guard.protect(*secret);
    benchmark::DoNotOptimize(registration);
  }
}

// One execute's egress work on its values (appliance/execute/execute_api.cc): open the
// request's scope, make a value of `range(0)` random alphanumeric bytes live
// (one automaton build), look for it in the protocol vocabulary, keep it, close
// the scope (unregister). Nothing is shared with other requests.
void BM_RequestScope(benchmark::State& state) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::mt19937 rng(3);
  std::string v;
  for (std::int64_t i = 0; i < state.range(0); ++i) v.push_back(kChars[rng() % 62]);
  auto secret = Secret::copyFrom(v);
  const std::string_view vocabulary = sealgate::protocolVocabulary();
  for (auto _ : state) {
    sealgate::EgressScope scope;
    const Secret* one[] = {&*secret};
    auto live = scope.guard().protectAll(one);
    benchmark::DoNotOptimize(scope.guard().carries(vocabulary));
    scope.keep(std::move(live));
  }
}

}  // namespace

BENCHMARK(BM_Scrub)->ArgsProduct({{1 << 10, 64 << 10, 1 << 20}, {1, 8, 64}});
BENCHMARK(BM_NaiveFindPerPattern)->ArgsProduct({{1 << 10, 64 << 10, 1 << 20}, {1, 8, 64}});
BENCHMARK(BM_Memcpy)->Arg(1 << 10)->Arg(64 << 10)->Arg(1 << 20);
BENCHMARK(BM_ScrubNothingLive)->Arg(1 << 10)->Arg(1 << 20);
BENCHMARK(BM_ProtectAndUnregister)->Arg(1)->Arg(8)->Arg(64);
BENCHMARK(BM_RequestScope)->Arg(32)->Arg(1024)->Arg(8192);
