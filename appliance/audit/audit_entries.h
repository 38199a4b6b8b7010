// The audit log as a browsable list (GET /admin/v1/audit/entries; docs/AUDIT.md,
// "Browsing the log"): newest first, filtered, in pages that continue with
// `next_before`. The work of one page is bounded: at most `scanCap` entries are
// read back and looked at, whatever the filters, so a page may hold fewer than
// `limit` entries (even none) and still have a `next_before`.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "appliance/audit/audit_log.h"

namespace sealgate::appliance {

inline constexpr std::uint64_t kEntriesDefaultLimit = 50;
inline constexpr std::uint64_t kEntriesMaxLimit = 200;
// Entries looked at per request, matching or not.
inline constexpr std::uint64_t kEntriesScanCap = 5000;
// since/until are unix seconds up to 9999-12-31T23:59:59Z.
inline constexpr std::int64_t kEntriesMaxUnixSeconds = 253402300799;

struct EntryQuery {
  // Exact matches on the event's string fields of the same name.
  std::optional<std::string> type, tenant, outcome;
  // Unix seconds: since <= time < until, on the entry's `time`.
  std::optional<std::int64_t> since, until;
  std::uint64_t limit = kEntriesDefaultLimit;
  // Only entries with index < before; unset: from the newest.
  std::optional<std::uint64_t> before;
};

struct EntryPage {
  struct Item {
    std::uint64_t index = 0;
    nlohmann::json entry;  // the event as logged
  };
  std::vector<Item> entries;   // newest first
  std::uint64_t treeSize = 0;  // the log's size when the page was read
  // Where the next page starts (pass it as `before`); unset when no older entry
  // is left to look at.
  std::optional<std::uint64_t> nextBefore;
};

// One page, scanning backwards from min(before, size). An entry that cannot be
// read back as a JSON object gives AUDIT_UNAVAILABLE.
Result<EntryPage> pageEntries(const MerkleAuditLog& log, const EntryQuery& query,
                              std::uint64_t scanCap = kEntriesScanCap);

}  // namespace sealgate::appliance
