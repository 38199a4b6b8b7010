// GET /admin/v1/audit/entries (filters, pages, bounds, bad parameters) and the
// export's headers, through AuditApi over a real log signed in SoftHSM2.
#include "appliance/audit/audit_api.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <vector>

#include "appliance/keys/signing_keys.h"
#include "tests/support/temp_token.h"

namespace sealgate::appliance {
namespace {

using nlohmann::json;

CheckpointSigner apiSigner() {
  static std::unique_ptr<hsm::KeyStore> keys = [] {
    auto k = testing::openFreshToken("audit-api-test");
    if (!k->generateEcP256Key("sealgate-audit-es256-v1")) std::abort();
    return k;
  }();
  auto s = hsmCheckpointSigner(*keys, "sealgate-audit-es256");
  if (!s) std::abort();
  return std::move(*s);
}

struct Fixture {
  Fixture() {
    char tmpl[] = "/tmp/sealgate-auditapi-XXXXXX";
    AuditLogOptions o;
    o.dir = mkdtemp(tmpl);
    o.checkpointInterval = std::chrono::milliseconds(60000);
    o.appendTimeout = std::chrono::milliseconds(5000);
    auto opened = MerkleAuditLog::open(o, apiSigner());
    if (!opened) std::abort();
    log = std::move(*opened);
  }
  std::uint64_t add(const json& event) {
    auto index = log->append(event.dump());
    EXPECT_TRUE(index.ok()) << index.error().describe();
    return index.ok() ? *index : 0;
  }
  std::unique_ptr<MerkleAuditLog> log;
};

// The answer to GET /admin/v1/audit/entries?<query>: status, body.
std::pair<int, json> get(AuditApi& api, const std::string& query) {
  Request r;
  r.method = "GET";
  r.query = query;
  HandlerResult result = api.entries(r);
  if (auto* e = std::get_if<HttpError>(&result)) {
    return {e->status, json{{"code", errorCodeName(e->code)}, {"message", e->message}}};
  }
  auto& ok = std::get<Response>(result);
  return {ok.status, ok.body};
}

std::vector<std::uint64_t> indexes(const json& page) {
  std::vector<std::uint64_t> out;
  for (const auto& item : page["entries"]) out.push_back(item["index"].get<std::uint64_t>());
  return out;
}

// Every page of `query` (which must not hold `before`), following next_before.
std::vector<std::uint64_t> allPages(AuditApi& api, const std::string& query, int* pages = nullptr) {
  std::vector<std::uint64_t> out;
  std::string before;
  for (int n = 1; n < 1000; ++n) {
    auto [status, page] = get(api, query + before);
    EXPECT_EQ(status, 200) << page.dump();
    if (status != 200) break;
    auto got = indexes(page);
    out.insert(out.end(), got.begin(), got.end());
    if (!page.contains("next_before")) {
      if (pages) *pages = n;
      break;
    }
    before = "&before=" + std::to_string(page["next_before"].get<std::uint64_t>());
  }
  return out;
}

json ev(const std::string& type, const std::string& tenant, const std::string& outcome) {
  return json{{"type", type}, {"tenant", tenant}, {"outcome", outcome}};
}

TEST(AuditEntries, AnEmptyLogHasNoEntriesAndNoNextPage) {
  Fixture f;
  AuditApi api(*f.log);
  auto [status, body] = get(api, "");
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body, json({{"entries", json::array()}, {"tree_size", 0}}));
  std::tie(status, body) = get(api, "type=authorize&before=10&limit=200");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body["entries"].size(), 0u);
  EXPECT_FALSE(body.contains("next_before"));
}

TEST(AuditEntries, PagesNewestFirstWithoutGapsOrDuplicates) {
  Fixture f;
  for (int i = 0; i < 23; ++i) f.add(ev("authorize", "acme", "granted"));
  AuditApi api(*f.log);
  auto [status, first] = get(api, "limit=5");
  ASSERT_EQ(status, 200) << first.dump();
  EXPECT_EQ(indexes(first), (std::vector<std::uint64_t>{22, 21, 20, 19, 18}));
  EXPECT_EQ(first["tree_size"], 23);
  EXPECT_EQ(first["next_before"], 18);
  // Each item is the entry as logged, with its own audit_index.
  auto stored = f.log->read(22, 1);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(first["entries"][0]["entry"], json::parse(stored->at(0)));
  EXPECT_EQ(first["entries"][0]["entry"]["audit_index"], 22);

  int pages = 0;
  auto all = allPages(api, "limit=5", &pages);
  std::vector<std::uint64_t> want;
  for (int i = 22; i >= 0; --i) want.push_back(static_cast<std::uint64_t>(i));
  EXPECT_EQ(all, want);
  EXPECT_EQ(pages, 5);  // 5+5+5+5+3, the last without next_before

  // The default limit is 50; an entry appended between pages shows on no later page.
  auto [s2, whole] = get(api, "");
  EXPECT_EQ(whole["entries"].size(), 23u);
  EXPECT_FALSE(whole.contains("next_before"));
  std::tie(s2, whole) = get(api, "limit=10");
  f.add(ev("consume", "acme", "consumed"));
  auto [s3, next] = get(api, "limit=200&before=" + std::to_string(whole["next_before"].get<std::uint64_t>()));
  EXPECT_EQ(indexes(next).front(), 12u);
  EXPECT_EQ(next["tree_size"], 24);
  EXPECT_FALSE(next.contains("next_before"));
}

TEST(AuditEntries, BeforeBoundsThePageAndIsClampedToTheLog) {
  Fixture f;
  for (int i = 0; i < 6; ++i) f.add(ev("authorize", "acme", "granted"));
  AuditApi api(*f.log);
  auto [status, body] = get(api, "before=3");
  EXPECT_EQ(indexes(body), (std::vector<std::uint64_t>{2, 1, 0}));
  EXPECT_FALSE(body.contains("next_before"));
  std::tie(status, body) = get(api, "before=0");
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(body["entries"].empty());
  EXPECT_FALSE(body.contains("next_before"));
  std::tie(status, body) = get(api, "before=1000&limit=2");
  EXPECT_EQ(indexes(body), (std::vector<std::uint64_t>{5, 4}));
  EXPECT_EQ(body["next_before"], 4);
  // A page that ends on entry 0 says there is nothing older.
  std::tie(status, body) = get(api, "before=2&limit=2");
  EXPECT_EQ(indexes(body), (std::vector<std::uint64_t>{1, 0}));
  EXPECT_FALSE(body.contains("next_before"));
}

TEST(AuditEntries, FiltersMatchExactlyAndCombine) {
  Fixture f;
  std::vector<json> events;
  const char* types[] = {"authorize", "consume", "grant_revoke"};
  const char* tenants[] = {"acme", "globex"};
  const char* outcomes[] = {"granted", "denied", "consumed"};
  for (int i = 0; i < 40; ++i) {
    events.push_back(ev(types[i % 3], tenants[(i / 3) % 2], outcomes[(i / 2) % 3]));
    f.add(events.back());
  }
  f.add(json{{"type", "policy_update"}, {"outcome", "updated"}});  // admin side: no tenant
  f.add(json{{"type", 7}, {"tenant", json::array({"acme"})}});     // not strings: never match
  AuditApi api(*f.log);
  auto expect = [&](const std::string& type, const std::string& tenant, const std::string& outcome) {
    std::vector<std::uint64_t> want;
    for (int i = 39; i >= 0; --i) {
      const auto& e = events[static_cast<std::size_t>(i)];
      if ((type.empty() || e["type"] == type) && (tenant.empty() || e["tenant"] == tenant) &&
          (outcome.empty() || e["outcome"] == outcome)) {
        want.push_back(static_cast<std::uint64_t>(i));
      }
    }
    return want;
  };
  EXPECT_EQ(allPages(api, "type=consume&limit=3"), expect("consume", "", ""));
  EXPECT_EQ(allPages(api, "tenant=globex&limit=4"), expect("", "globex", ""));
  EXPECT_EQ(allPages(api, "outcome=denied&limit=1"), expect("", "", "denied"));
  const auto combined = expect("authorize", "acme", "granted");
  ASSERT_FALSE(combined.empty());
  EXPECT_EQ(allPages(api, "type=authorize&tenant=acme&outcome=granted&limit=2"), combined);
  EXPECT_EQ(allPages(api, "type=policy_update"), (std::vector<std::uint64_t>{40}));
  // Exact: no prefix, no case folding; percent-encoding is decoded.
  EXPECT_TRUE(allPages(api, "type=auth").empty());
  EXPECT_TRUE(allPages(api, "type=Authorize").empty());
  EXPECT_TRUE(allPages(api, "tenant=acm").empty());
  EXPECT_EQ(allPages(api, "type=grant%5Frevoke"), expect("grant_revoke", "", ""));
  // The filter sees the entries, not their index in a page.
  auto [status, body] = get(api, "type=consume&limit=2");
  for (const auto& item : body["entries"]) EXPECT_EQ(item["entry"]["type"], "consume");
}

TEST(AuditEntries, TheScanCapBoundsAPageAndNextBeforeContinuesIt) {
  Fixture f;
  for (int i = 0; i < 30; ++i) f.add(ev(i % 10 == 0 ? "consume" : "authorize", "acme", "granted"));
  AuditApi api(*f.log, /*scanCap=*/4);
  // At most 4 entries looked at per request: pages with fewer than limit (even
  // none), and next_before where the scan stopped.
  auto [status, body] = get(api, "type=consume&limit=10");
  ASSERT_EQ(status, 200);
  EXPECT_TRUE(body["entries"].empty());
  EXPECT_EQ(body["next_before"], 26);
  int pages = 0;
  EXPECT_EQ(allPages(api, "type=consume&limit=10", &pages), (std::vector<std::uint64_t>{20, 10, 0}));
  EXPECT_EQ(pages, 8);  // ceil(30 / 4)
  // Unfiltered, the cap also bounds limit.
  std::tie(status, body) = get(api, "limit=200");
  EXPECT_EQ(indexes(body), (std::vector<std::uint64_t>{29, 28, 27, 26}));
  EXPECT_EQ(body["next_before"], 26);
}

// Seconds since the epoch of an entry's time (2026-01-02T03:04:05.678Z).
std::int64_t secondsOf(const std::string& t) {
  std::tm tm{};
  if (!strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) std::abort();
  return static_cast<std::int64_t>(timegm(&tm));
}

TEST(AuditEntries, SinceIsInclusiveUntilExclusiveInUnixSeconds) {
  Fixture f;
  for (int i = 0; i < 3; ++i) f.add(ev("authorize", "acme", "granted"));
  AuditApi api(*f.log);
  auto [status, body] = get(api, "");
  const auto t0 = secondsOf(body["entries"][2]["entry"]["time"].get<std::string>());
  const auto t2 = secondsOf(body["entries"][0]["entry"]["time"].get<std::string>());
  auto count = [&](const std::string& q) { return allPages(api, q).size(); };
  EXPECT_EQ(count("since=" + std::to_string(t0)), 3u);
  EXPECT_EQ(count("until=" + std::to_string(t2 + 1)), 3u);
  EXPECT_EQ(count("since=" + std::to_string(t0) + "&until=" + std::to_string(t2 + 1)), 3u);
  EXPECT_EQ(count("until=" + std::to_string(t0)), 0u);
  EXPECT_EQ(count("since=" + std::to_string(t2 + 1)), 0u);
  EXPECT_EQ(count("since=0&until=0"), 0u);
  EXPECT_EQ(count("since=" + std::to_string(t2 + 3600)), 0u);
  EXPECT_EQ(count("since=0"), 3u);
  EXPECT_EQ(count("until=253402300799"), 3u);
}

TEST(AuditEntries, BadParametersAreRefusedNamingTheParameter) {
  Fixture f;
  f.add(ev("authorize", "acme", "granted"));
  AuditApi api(*f.log);
  const std::pair<const char*, const char*> bad[] = {
      {"limit=0", "limit"},
      {"limit=201", "limit"},
      {"limit=abc", "limit"},
      {"limit=-1", "limit"},
      {"limit=05", "limit"},
      {"limit=", "limit"},
      {"before=x", "before"},
      {"before=-1", "before"},
      {"before=1.5", "before"},
      {"since=2026-01-01T00:00:00Z", "since"},
      {"until=2026-01-01T00%3A00%3A00%2B01%3A00", "until"},
      {"since=1.5", "since"},
      {"until=253402300800", "until"},
      {"since=99999999999999999999", "since"},
      {"since=20&until=10", "since"},
      {"type=", "type"},
      {"tenant=", "tenant"},
      {"outcome=%ZZ", "outcome"},
      {"type=a%0Ab", "type"},
      {"type=a&type=b", "type"},
      {"limit=5&limit=5", "limit"},
      {"tennant=acme", "tennant"},
      {"index=1", "index"},
      {"type", "type"},
  };
  for (const auto& [query, name] : bad) {
    auto [status, body] = get(api, query);
    EXPECT_EQ(status, 400) << query;
    EXPECT_EQ(body["code"], "INVALID_REQUEST") << query;
    EXPECT_NE(body["message"].get<std::string>().find(name), std::string::npos) << query << ": " << body.dump();
  }
  const std::string longValue(257, 'a');
  auto [status, body] = get(api, "outcome=" + longValue);
  EXPECT_EQ(status, 400);
  EXPECT_NE(body["message"].get<std::string>().find("outcome"), std::string::npos);
  // The bounds themselves are fine; empty pairs are ignored.
  for (const char* ok :
       {"limit=1", "limit=200", "before=0", "since=0&until=0", "type=x&&limit=3&", "until=253402300799"}) {
    EXPECT_EQ(get(api, ok).first, 200) << ok;
  }
  EXPECT_EQ(get(api, "outcome=" + std::string(256, 'a')).first, 200);
}

TEST(AuditExport, AnnouncesItsEntriesAndAFileNamedAfterItsSize) {
  Fixture f;
  AuditApi api(*f.log);
  Request r;
  auto empty = std::get<Response>(api.exportBundle(r));
  EXPECT_EQ(empty.headers.at("X-Sealgate-Audit-Entries"), "0");
  EXPECT_EQ(empty.headers.at("Content-Disposition"), "attachment; filename=\"sealgate-audit-0.json\"");
  EXPECT_EQ(json::parse(empty.rawBody)["tree_size"], 0);
  for (int i = 0; i < 7; ++i) f.add(ev("authorize", "acme", "granted"));
  auto out = std::get<Response>(api.exportBundle(r));
  EXPECT_EQ(out.status, 200);
  const json bundle = json::parse(out.rawBody);
  EXPECT_EQ(bundle["tree_size"], 7);
  EXPECT_EQ(bundle["entries"].size(), 7u);
  EXPECT_EQ(out.headers.at("X-Sealgate-Audit-Entries"), "7");
  EXPECT_EQ(out.headers.at("Content-Disposition"), "attachment; filename=\"sealgate-audit-7.json\"");
}

TEST(AuditProofs, ParametersAreReadWithTheSharedQueryParser) {
  Fixture f;
  for (int i = 0; i < 4; ++i) f.add(ev("authorize", "acme", "granted"));
  AuditApi api(*f.log);
  Request r;
  r.query = "index=%31&tree_size=4";  // percent-encoded digits decode
  ASSERT_TRUE(std::holds_alternative<Response>(api.inclusionProof(r)));
  EXPECT_EQ(std::get<Response>(api.inclusionProof(r)).body["index"], 1);
  for (const char* bad : {"index=x&tree_size=4", "index=01&tree_size=4", "tree_size=4", "", "index=%3&tree_size=4",
                          "index=4&tree_size=4"}) {
    r.query = bad;
    auto result = api.inclusionProof(r);
    ASSERT_TRUE(std::holds_alternative<HttpError>(result)) << bad;
    EXPECT_EQ(std::get<HttpError>(result).code, ErrorCode::InvalidRequest) << bad;
  }
  r.query = "first=2&second=4";
  EXPECT_TRUE(std::holds_alternative<Response>(api.consistencyProof(r)));
  for (const char* bad : {"first=2", "first=2&second=y", "first=5&second=4"}) {
    r.query = bad;
    auto result = api.consistencyProof(r);
    ASSERT_TRUE(std::holds_alternative<HttpError>(result)) << bad;
    EXPECT_EQ(std::get<HttpError>(result).code, ErrorCode::InvalidRequest) << bad;
  }
}

}  // namespace
}  // namespace sealgate::appliance
