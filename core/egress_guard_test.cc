#include "core/egress_guard.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "core/aho_corasick.h"
#include "core/egress_patterns.h"
#include "core/encoding.h"

namespace sealgate {
namespace {

using nlohmann::json;

Secret secretOf(std::string_view bytes) {
  auto s = Secret::copyFrom(bytes);
  EXPECT_TRUE(s.ok());
  return std::move(*s);
}

std::string str(const WipedBytes& b) { return std::string(b.begin(), b.end()); }
WipedBytes wiped(std::string_view s) { return WipedBytes(s.begin(), s.end()); }

std::string hexUpper(std::span<const std::uint8_t> data) {
  std::string out = hexLower(data);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string jsonInner(std::string_view value, bool ensureAscii) {
  const std::string dumped = json(std::string(value)).dump(-1, ' ', ensureAscii, json::error_handler_t::replace);
  return dumped.substr(1, dumped.size() - 2);
}

// ---- the matcher -------------------------------------------------------------------

// Leftmost-longest, non-overlapping, the obvious quadratic way.
std::vector<std::pair<std::size_t, std::size_t>> naiveMatches(const std::vector<std::string>& patterns,
                                                              std::string_view text) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t bestBegin = std::string_view::npos, bestLen = 0;
    for (const auto& p : patterns) {
      if (p.empty()) continue;
      const std::size_t at = text.find(p, pos);
      if (at == std::string_view::npos) continue;
      if (at < bestBegin || (at == bestBegin && p.size() > bestLen)) bestBegin = at, bestLen = p.size();
    }
    if (bestBegin == std::string_view::npos) break;
    out.emplace_back(bestBegin, bestBegin + bestLen);
    pos = bestBegin + bestLen;
  }
  return out;
}

std::vector<std::pair<std::size_t, std::size_t>> automatonMatches(const std::vector<std::string>& patterns,
                                                                  std::string_view text) {
  std::vector<WipedBytes> owned;
  for (const auto& p : patterns) owned.push_back(wiped(p));
  std::vector<const WipedBytes*> ptrs;
  for (const auto& p : owned) ptrs.push_back(&p);
  AhoCorasick ac(ptrs);
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::size_t pos = 0;
  while (auto m = ac.findLeftmostLongest(text, pos)) {
    out.emplace_back(m->begin, m->end);
    pos = m->end;
  }
  EXPECT_EQ(ac.containsAny(text), !out.empty());
  return out;
}

TEST(AhoCorasick, LeftmostThenLongest) {
  using M = std::vector<std::pair<std::size_t, std::size_t>>;
  EXPECT_EQ(automatonMatches({"abc", "abcdef", "bcd"}, "xabcdefg"), (M{{1, 7}}));
  EXPECT_EQ(automatonMatches({"bcd", "abc"}, "abcd"), (M{{0, 3}}));
  EXPECT_EQ(automatonMatches({"bcdefgh", "abc"}, "abcdefgh"), (M{{0, 3}}));
  EXPECT_EQ(automatonMatches({"aa"}, "aaaaa"), (M{{0, 2}, {2, 4}}));
  EXPECT_EQ(automatonMatches({"abcx", "b"}, "abcy"), (M{{1, 2}}));
  EXPECT_TRUE(automatonMatches({"q"}, "abc").empty());
}

TEST(AhoCorasick, AgreesWithNaiveSearchOnRandomInputs) {
  std::mt19937 rng(7);
  auto randomText = [&](std::size_t len) {
    std::string s;
    for (std::size_t i = 0; i < len; ++i) s.push_back(static_cast<char>('a' + rng() % 3));
    return s;
  };
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::string> patterns;
    for (int i = 0, n = 1 + static_cast<int>(rng() % 5); i < n; ++i) patterns.push_back(randomText(1 + rng() % 4));
    const std::string text = randomText(rng() % 40);
    ASSERT_EQ(automatonMatches(patterns, text), naiveMatches(patterns, text)) << "round " << round;
  }
}

// ---- the encodings -----------------------------------------------------------------

TEST(EgressPatterns, Base64AtAlignmentZeroIsTheWholeEncoding) {
  const std::string v = "hello world!?";
  EXPECT_EQ(str(base64Terminal(asBytes(v), Base64Alphabet::Standard, 0, true)), base64Std(asBytes(v)));
  EXPECT_EQ(str(base64Terminal(asBytes(v), Base64Alphabet::Url, 0, false)), base64UrlNoPad(asBytes(v)));
  // 13 bytes = 104 bits: 17 whole characters belong to the value alone.
  EXPECT_EQ(str(base64Interior(asBytes(v), Base64Alphabet::Standard, 0)), base64Std(asBytes(v)).substr(0, 17));
}

TEST(EgressPatterns, JsonEscapingMatchesNlohmannForAnyBytes) {
  std::mt19937 rng(11);
  std::vector<std::string> values = {"plain",
                                     "quote\" back\\ slash/",
                                     "ctl\x01\x1f\b\f\n\r\t\x7f",
                                     "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                                     "bad\xff\xfe",
                                     "\xe2\x82",
                                     "\xe0\x80\x80",
                                     "\xed\xa0\x80",
                                     "\xf4\x90\x80\x80",
                                     "\xc3(",
                                     std::string("nul\0inside", 10)};
  for (int i = 0; i < 3000; ++i) {
    std::string v;
    for (std::size_t j = 0, n = rng() % 12; j < n; ++j) {
      const auto r = rng() % 4;
      v.push_back(static_cast<char>(r == 0 ? rng() % 0x20 : r == 1 ? 0x80 + rng() % 0x80 : 0x20 + rng() % 0x60));
    }
    values.push_back(v);
  }
  for (const auto& v : values) {
    for (bool ascii : {false, true}) {
      JsonEscapeStyle style;
      style.ensureAscii = ascii;
      ASSERT_EQ(str(jsonEscaped(asBytes(v), style)), jsonInner(v, ascii)) << hexLower(asBytes(v)) << " ascii=" << ascii;
    }
  }
}

TEST(EgressPatterns, OtherEncoderDialects) {
  const std::string v = "a/b<c>&\xc3\xa9";
  EXPECT_EQ(str(jsonEscaped(asBytes(v), {true, true, true, true})), "a\\/b\\u003Cc\\u003E\\u0026\\u00E9");
  EXPECT_EQ(str(percentEncoded(asBytes(std::string_view("a b~*!")), PercentStyle::Rfc3986, true)), "a%20b~%2A%21");
  EXPECT_EQ(str(percentEncoded(asBytes(std::string_view("a b~*!")), PercentStyle::Rfc3986PlusSpace, false)),
            "a+b~%2a%21");
  EXPECT_EQ(str(percentEncoded(asBytes(std::string_view("a b~*!")), PercentStyle::UriComponent, true)), "a%20b~*!");
  EXPECT_EQ(str(percentEncoded(asBytes(std::string_view("a b~*!")), PercentStyle::WhatwgForm, true)), "a+b%7E*%21");
  EXPECT_EQ(str(percentEncoded(asBytes(std::string_view("ab")), PercentStyle::EveryByte, false)), "%61%62");
}

TEST(EgressPatterns, ShortDerivedEncodingsAreDroppedButRawIsKept) {
  const auto patterns = egressPatterns(asBytes(std::string_view("a")));
  std::vector<std::string> texts;
  for (const auto& p : patterns) texts.push_back(str(p));
  EXPECT_NE(std::find(texts.begin(), texts.end(), "a"), texts.end());
  EXPECT_EQ(std::find(texts.begin(), texts.end(), "61"), texts.end());  // hex: 2 characters
  for (const auto& t : texts) EXPECT_TRUE(t == "a" || t.size() >= kMinDerivedPatternChars) << t;
  EXPECT_TRUE(egressPatterns({}).empty());
}

// ---- the guard ---------------------------------------------------------------------

TEST(EgressGuard, NothingLiveLeavesTextUnchanged) {
  EgressGuard guard;
  EXPECT_FALSE(guard.active());
  std::string text = "anything at all: s3cr3t-value";
  EXPECT_EQ(guard.scrub(text), 0u);
  EXPECT_EQ(text, "anything at all: s3cr3t-value");
  EXPECT_FALSE(guard.carries(text));
  EXPECT_TRUE(guard.check(text).ok());
}

TEST(EgressGuard, EveryEncodingIsFoundAndReplaced) {
  // Characters that every encoding treats specially: space, quote, slash, plus, non-ASCII.
  const std::string v = "s3cr+t/v@l ue\"\xc3\xa9~<&";
  EgressGuard guard;
  auto reg = guard.protect(secretOf(v));
  ASSERT_TRUE(guard.active());
  const std::vector<std::pair<std::string, std::string>> encodings = {
      {"raw", v},
      {"base64", base64Std(asBytes(v))},
      {"base64url", base64UrlNoPad(asBytes(v))},
      {"hex", hexLower(asBytes(v))},
      {"HEX", hexUpper(asBytes(v))},
      {"url", "s3cr%2Bt%2Fv%40l%20ue%22%C3%A9~%3C%26"},
      {"url lower", "s3cr%2bt%2fv%40l%20ue%22%c3%a9~%3c%26"},
      {"form", "s3cr%2Bt%2Fv%40l+ue%22%C3%A9%7E%3C%26"},
      {"every byte", str(percentEncoded(asBytes(v), PercentStyle::EveryByte, true))},
      {"json", jsonInner(v, false)},
      {"json ascii", jsonInner(v, true)},
      {"json php", "s3cr+t\\/v@l ue\\\"\\u00e9~<&"},
      {"json go", "s3cr+t/v@l ue\\\"\xc3\xa9~\\u003c\\u0026"},
      {"base64 in a url", str(percentEncoded(asBytes(base64Std(asBytes(v))), PercentStyle::Rfc3986, true))},
  };
  for (const auto& [name, encoded] : encodings) {
    std::string text = "before " + encoded + " after";
    EXPECT_TRUE(guard.carries(text)) << name;
    EXPECT_FALSE(guard.check(text).ok()) << name;
    EXPECT_EQ(guard.check(text).error().code, egress_errc::kBlocked) << name;
    EXPECT_EQ(guard.scrub(text), 1u) << name;
    EXPECT_EQ(text, "before [REDACTED] after") << name;
    EXPECT_FALSE(guard.carries(text)) << name;
  }
}

TEST(EgressGuard, FindsTheValueAtEveryBase64AlignmentInsideALargerBlob) {
  const std::string v = "k3y-material-0123";
  EgressGuard guard;
  auto reg = guard.protect(secretOf(v));
  for (std::size_t before = 0; before < 6; ++before) {
    for (std::size_t after = 0; after < 4; ++after) {
      const std::string blob = std::string(before, '\x01') + v + std::string(after, '\xfe');
      const std::string interior =
          str(base64Interior(asBytes(v), Base64Alphabet::Standard, static_cast<int>(before % 3)));
      for (std::string text : {base64Std(asBytes(blob)), base64UrlNoPad(asBytes(blob))}) {
        const std::string original = text;
        EXPECT_TRUE(guard.carries(text)) << before << "/" << after;
        EXPECT_EQ(guard.scrub(text), 1u) << before << "/" << after;
        EXPECT_NE(text, original);
        EXPECT_EQ(text.find(interior), std::string::npos);
        EXPECT_FALSE(guard.carries(text));
        EXPECT_NE(text.find("[REDACTED]"), std::string::npos);
      }
    }
  }
}

TEST(EgressGuard, JsonInsideJsonIsFound) {
  // A peer that echoes a JSON body inside its own JSON answer escapes the value twice.
  EgressGuard guard;
  const std::string value = "p/w+\"q&\\z\xc3\xa9";
  auto live = guard.protect(secretOf(value));
  const nlohmann::json inner = {{"credential", value}};
  const nlohmann::json outer = {{"body", inner.dump()}};
  for (bool ascii : {false, true}) {
    std::string text = outer.dump(-1, ' ', ascii);
    ASSERT_TRUE(guard.carries(text)) << text;
    EXPECT_EQ(guard.scrub(text), 1u) << text;
    EXPECT_FALSE(guard.carries(text));
    EXPECT_NE(text.find("[REDACTED]"), std::string::npos);
  }
}

TEST(EgressGuard, SeveralLiveValues) {
  EgressGuard guard;
  auto a = guard.protect(secretOf("alpha-secret"));
  auto b = guard.protect(secretOf("bravo-secret"));
  EXPECT_EQ(guard.liveValues(), 2u);
  std::string text = "a=alpha-secret b=" + base64Std(asBytes(std::string_view("bravo-secret"))) + " c=charlie";
  EXPECT_EQ(guard.scrub(text), 2u);
  EXPECT_EQ(text, "a=[REDACTED] b=[REDACTED] c=charlie");
}

TEST(EgressGuard, OneRegistrationForSeveralValues) {
  EgressGuard guard;
  const Secret user = secretOf("slot-user-name"), password = secretOf("slot-pass-word");
  const Secret* slots[] = {&user, nullptr, &password};
  {
    auto reg = guard.protectAll(slots);
    EXPECT_EQ(guard.liveValues(), 1u);  // one registration
    EXPECT_TRUE(guard.carries("slot-user-name"));
    EXPECT_TRUE(guard.carries(hexLower(asBytes(std::string_view("slot-pass-word")))));
  }
  EXPECT_FALSE(guard.carries("slot-user-name slot-pass-word"));
}

TEST(EgressGuard, OverlappingValuesTakeTheLongestAtTheLeftmostStart) {
  EgressGuard guard;
  auto shorter = guard.protect(secretOf("secret"));
  auto longer = guard.protect(secretOf("secret-long"));
  std::string text = "x secret-long y secret z";
  EXPECT_EQ(guard.scrub(text), 2u);
  EXPECT_EQ(text, "x [REDACTED] y [REDACTED] z");
}

TEST(EgressGuard, UnregisteredValuesAreNoLongerRedacted) {
  EgressGuard guard;
  auto kept = guard.protect(secretOf("kept-value"));
  {
    auto gone = guard.protect(secretOf("gone-value"));
    EXPECT_TRUE(guard.carries("gone-value"));
  }
  EXPECT_FALSE(guard.carries("gone-value"));
  EXPECT_TRUE(guard.carries("kept-value"));
  kept.release();
  EXPECT_FALSE(kept.live());
  EXPECT_FALSE(guard.active());
  std::string text = "kept-value gone-value";
  EXPECT_EQ(guard.scrub(text), 0u);
  EXPECT_EQ(text, "kept-value gone-value");
}

TEST(EgressGuard, RegistrationsMove) {
  EgressGuard guard;
  EgressGuard::Registration outer;
  {
    auto inner = guard.protect(secretOf("moved-value"));
    outer = std::move(inner);
  }
  EXPECT_TRUE(outer.live());
  EXPECT_TRUE(guard.carries("moved-value"));
  outer = EgressGuard::Registration();
  EXPECT_FALSE(guard.carries("moved-value"));
}

TEST(EgressGuard, BinaryValuesWithNulAndHighBytes) {
  const std::string v("\x00\xff\x80k\x00\x7f\xc3", 7);
  EgressGuard guard;
  auto reg = guard.protect(secretOf(v));
  std::string text = std::string("head\x00", 5) + v + "|" + hexLower(asBytes(v)) + "|" + jsonInner(v, true) + "|" +
                     base64UrlNoPad(asBytes(v));
  EXPECT_EQ(guard.scrub(text), 4u);
  EXPECT_EQ(text, std::string("head\0", 5) + "[REDACTED]|[REDACTED]|[REDACTED]|[REDACTED]");
}

TEST(EgressGuard, ShortValuesAreRedactedRaw) {
  EgressGuard guard;
  auto one = guard.protect(secretOf("Q"));
  auto three = guard.protect(secretOf("z9!"));
  std::string text = "xQx z9! 51";  // 51 = hex of 'Q': too short to be a pattern
  EXPECT_EQ(guard.scrub(text), 2u);
  EXPECT_EQ(text, "x[REDACTED]x [REDACTED] 51");
}

TEST(EgressGuard, ScrubJsonWalksStringsAndKeys) {
  EgressGuard guard;
  auto reg = guard.protect(secretOf("pa55word"));
  std::size_t count = 0;
  const json out = guard.scrubJson(
      json{{"user", "bob"}, {"pa55word", 1}, {"nested", {{"list", json::array({"x pa55word y", 7})}}}}, &count);
  EXPECT_EQ(count, 2u);
  EXPECT_EQ(out,
            (json{{"user", "bob"}, {"[REDACTED]", 1}, {"nested", {{"list", json::array({"x [REDACTED] y", 7})}}}}));
  EXPECT_FALSE(guard.carries(out.dump()));
}

TEST(EgressGuard, AReplacementThatSpellsTheValueAgainIsLeftForCheckToBlock) {
  EgressGuard guard;
  auto reg = guard.protect(secretOf("D]ab"));
  std::string text = "D]abab";
  EXPECT_EQ(guard.scrub(text), 1u);
  EXPECT_EQ(text, "[REDACTED]ab");
  EXPECT_EQ(guard.check(text).error().code, egress_errc::kBlocked);
}

TEST(EgressGuard, ConcurrentScrubbingWhileValuesComeAndGo) {
  EgressGuard guard;
  auto always = guard.protect(secretOf("always-live-value"));
  std::atomic<bool> stop{false};
  std::atomic<int> leaks{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        std::string text = "log line always-live-value " + base64Std(asBytes(std::string_view("always-live-value")));
        if (guard.scrub(text) != 2 || guard.carries(text)) ++leaks;
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto reg = guard.protect(secretOf("transient-" + std::to_string(t) + "-" + std::to_string(i)));
        if (!guard.carries("transient-" + std::to_string(t) + "-" + std::to_string(i))) ++leaks;
      }
    });
  }
  threads[3].join();
  threads[4].join();
  stop = true;
  for (int t = 0; t < 3; ++t) threads[t].join();
  EXPECT_EQ(leaks.load(), 0);
  EXPECT_EQ(guard.liveValues(), 1u);
}

// ---- scopes: one guard per request, bound to its thread ---------------------------

TEST(EgressScope, NoScopeMeansNothingLive) {
  EXPECT_EQ(EgressScope::current(), nullptr);
  EXPECT_FALSE(EgressScope::currentGuard().active());
}

TEST(EgressScope, TwoScopesOnTwoThreadsDoNotSeeEachOthersValues) {
  // Issue 12: the guard was process-wide; a value live in tenant A's request was
  // redacted in tenant B's outputs, so B could test guesses at A's value.
  std::atomic<int> step{0};
  bool aSeesA = false, aSeesB = true, bSeesB = false, bSeesA = true;
  std::string bScrubbed = "guess: value-of-request-a";
  auto request = [&](const char* mine, const char* theirs, bool& seesMine, bool& seesTheirs, std::string* scrubbed) {
    EgressScope scope;
    EXPECT_EQ(EgressScope::current(), &scope);
    scope.keep(scope.guard().protect(secretOf(mine)));
    ++step;
    while (step.load() < 2) std::this_thread::yield();  // both values live at once
    seesMine = EgressScope::currentGuard().carries(mine);
    seesTheirs = EgressScope::currentGuard().carries(theirs);
    if (scrubbed != nullptr) EgressScope::currentGuard().scrub(*scrubbed);
    ++step;
    while (step.load() < 4) std::this_thread::yield();  // neither closes before both looked
  };
  std::thread a(request, "value-of-request-a", "value-of-request-b", std::ref(aSeesA), std::ref(aSeesB), nullptr);
  std::thread b(request, "value-of-request-b", "value-of-request-a", std::ref(bSeesB), std::ref(bSeesA), &bScrubbed);
  a.join();
  b.join();
  EXPECT_TRUE(aSeesA);
  EXPECT_TRUE(bSeesB);
  EXPECT_FALSE(aSeesB);
  EXPECT_FALSE(bSeesA);
  EXPECT_EQ(bScrubbed, "guess: value-of-request-a");  // no [REDACTED] to tell B it guessed right
  EXPECT_EQ(EgressScope::current(), nullptr);
}

TEST(EgressScope, AThreadOutsideTheScopeIsNotScrubbed) {
  EgressScope scope;
  scope.keep(scope.guard().protect(secretOf("request-only-value")));
  std::string here = "x request-only-value";
  EXPECT_EQ(EgressScope::currentGuard().scrub(here), 1u);
  std::string there = "x request-only-value";
  bool active = true;
  std::thread([&] {
    active = EgressScope::currentGuard().active();
    EgressScope::currentGuard().scrub(there);
  }).join();
  EXPECT_FALSE(active);
  EXPECT_EQ(there, "x request-only-value");
}

TEST(EgressScope, KeptValuesLiveUntilTheScopeCloses) {
  const EgressGuard* guard = nullptr;
  {
    EgressScope scope;
    guard = &scope.guard();
    {
      auto registration = scope.guard().protect(secretOf("kept-slot-value"));
      scope.keep(std::move(registration));
    }
    EXPECT_TRUE(EgressScope::currentGuard().carries("kept-slot-value"));
    EXPECT_EQ(guard->liveValues(), 1u);
  }
  EXPECT_EQ(EgressScope::current(), nullptr);
  EXPECT_FALSE(EgressScope::currentGuard().carries("kept-slot-value"));
}

TEST(EgressScope, EachScopeBuildsAnAutomatonOfItsOwnValuesOnly) {
  // Issue 12 (item 13): one automaton of every live value of every request, rebuilt
  // under one mutex. A scope's guard knows its own registrations only.
  EgressScope outer;
  outer.keep(outer.guard().protect(secretOf(std::string(4096, 'k') + "big")));
  std::size_t otherLive = 99;
  std::thread([&] {
    EgressScope other;
    other.keep(other.guard().protect(secretOf("small-value-1")));
    otherLive = other.guard().liveValues();
  }).join();
  EXPECT_EQ(otherLive, 1u);
  EXPECT_EQ(outer.guard().liveValues(), 1u);
}

}  // namespace
}  // namespace sealgate
