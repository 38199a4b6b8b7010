#include "appliance/audit/audit_entries.h"

#include <algorithm>

#include "core/json_parse.h"
#include "core/time_format.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

// Entries read back from the file at a time.
constexpr std::uint64_t kChunk = 128;

// The log writes `time` as 2026-01-02T03:04:05.678Z (fixed width, UTC), so
// times compare as strings. A bound in unix seconds in the same form.
std::string boundOf(std::int64_t unixSeconds) {
  std::string s = rfc3339Seconds(unixSeconds);  // ...:05Z
  s.insert(s.size() - 1, ".000");
  return s;
}

bool canonicalTime(const std::string& t) {
  return t.size() == 24 && t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' && t[16] == ':' && t[19] == '.' &&
         t[23] == 'Z';
}

bool fieldIs(const json& entry, const char* name, const std::optional<std::string>& want) {
  if (!want) return true;
  const auto it = entry.find(name);
  return it != entry.end() && it->is_string() && it->get_ref<const std::string&>() == *want;
}

struct Matcher {
  explicit Matcher(const EntryQuery& q) : query(q) {
    if (q.since) since = boundOf(*q.since);
    if (q.until) until = boundOf(*q.until);
  }

  bool operator()(const json& entry) const {
    if (!fieldIs(entry, "type", query.type) || !fieldIs(entry, "tenant", query.tenant) ||
        !fieldIs(entry, "outcome", query.outcome)) {
      return false;
    }
    if (!since && !until) return true;
    const auto it = entry.find("time");
    if (it == entry.end() || !it->is_string()) return false;
    const std::string& t = it->get_ref<const std::string&>();
    if (!canonicalTime(t)) return false;
    return (!since || t >= *since) && (!until || t < *until);
  }

  const EntryQuery& query;
  std::optional<std::string> since, until;
};

}  // namespace

Result<EntryPage> pageEntries(const MerkleAuditLog& log, const EntryQuery& query, std::uint64_t scanCap) {
  EntryPage page;
  page.treeSize = log.size();
  const Matcher matches(query);
  // Every entry below `cursor` is still to be looked at.
  std::uint64_t cursor = std::min(query.before.value_or(page.treeSize), page.treeSize);
  std::uint64_t scanned = 0;
  bool full = query.limit == 0;
  while (cursor > 0 && !full && scanned < scanCap) {
    const std::uint64_t n = std::min({kChunk, cursor, scanCap - scanned});
    SEALGATE_ASSIGN_OR_RETURN(auto lines, log.read(cursor - n, n));
    if (lines.size() != n) return makeError(audit_errc::kUnavailable, "the audit log could not be read back");
    std::uint64_t i = n;
    while (i > 0 && !full) {
      --i;
      ++scanned;
      json entry = parseInternalJson(lines[i]);
      const std::uint64_t index = cursor - n + i;
      if (!entry.is_object()) {
        return makeError(audit_errc::kUnavailable, "audit entry " + std::to_string(index) + " is not a JSON object");
      }
      if (!matches(entry)) continue;
      page.entries.push_back({index, std::move(entry)});
      full = page.entries.size() >= query.limit;
    }
    cursor -= n - i;  // i > 0 only when the page filled up mid-chunk
  }
  if (cursor > 0) page.nextBefore = cursor;
  return page;
}

}  // namespace sealgate::appliance
