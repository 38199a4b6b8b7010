// The embedded policy's version history (docs/POLICY.md, "History and
// validation"): every accepted policy, numbered 1, 2, ..., with its sha256,
// time, author, reason, rule count and document. Durable in a folder, one
// file per version (`NNNNNN.json`, written atomically), or in memory when the
// appliance has no policy file. The newest kMaxVersions are kept.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace sealgate::appliance {

// NOLINTNEXTLINE(bugprone-exception-escape): holds an nlohmann::json (see Request in server/)
struct PolicyVersion {
  std::uint64_t version = 0;
  std::string sha256;  // of the document as saved (PUT's 2-space serialization)
  std::string at;      // RFC 3339, seconds
  std::string by;      // the admin's SPIFFE ID, or "startup"
  std::string reason;  // "" when none was given
  std::uint64_t rules = 0;
  nlohmann::json policy;  // the document (null in listings)
};

class PolicyHistory {
 public:
  static constexpr std::size_t kMaxVersions = 200;

  // `dir` empty: in memory only. Otherwise reads the entries the folder holds
  // (creating it, 0700, when missing); an entry that does not read back is
  // logged and left out, and its number is never reused.
  explicit PolicyHistory(std::string dir);

  const std::string& dir() const { return dir_; }
  std::uint64_t nextVersion() const;
  std::optional<PolicyVersion> newest() const;  // metadata only

  // Writes `v` (v.version must be nextVersion()) durably, then keeps it; the
  // oldest entries beyond kMaxVersions are removed (a failed removal is logged).
  // On failure nothing is kept: POLICY_PERSIST_FAILED.
  Result<void> append(const PolicyVersion& v);
  // Takes back the newest entry, `version` (its policy could not be put in place).
  void dropNewest(std::uint64_t version);

  // Newest first, versions below `before` (all when unset), at most `limit`;
  // `*more` tells whether older ones remain. Metadata only.
  std::vector<PolicyVersion> list(std::optional<std::uint64_t> before, std::size_t limit, bool* more) const;
  // One version with its document; nullopt when absent (or no longer readable).
  std::optional<PolicyVersion> find(std::uint64_t version) const;

 private:
  std::string fileOf(std::uint64_t version) const;
  void load();

  const std::string dir_;
  mutable std::mutex mu_;
  std::deque<PolicyVersion> entries_;  // oldest first; documents only when in memory
  std::uint64_t highest_ = 0;          // the highest number seen, readable or not
};

}  // namespace sealgate::appliance
