#include "appliance/policy/policy_history.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "appliance/telemetry/logging.h"
#include "core/file_io.h"
#include "core/json_parse.h"

namespace sealgate::appliance {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// "000042.json" -> 42; anything else (the writer's .tmp files included) -> nullopt.
std::optional<std::uint64_t> versionOfName(const std::string& name) {
  constexpr std::string_view kExt = ".json";
  if (name.size() < 6 + kExt.size() || name.size() > 20 + kExt.size()) return std::nullopt;
  if (name.compare(name.size() - kExt.size(), kExt.size(), kExt) != 0) return std::nullopt;
  const std::string digits = name.substr(0, name.size() - kExt.size());
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : digits) {
    if (v > (UINT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v == 0 ? std::nullopt : std::optional<std::uint64_t>(v);
}

json toJson(const PolicyVersion& v, bool withPolicy) {
  json out = {{"version", v.version}, {"sha256", v.sha256}, {"at", v.at},
              {"by", v.by},           {"reason", v.reason}, {"rules", v.rules}};
  if (withPolicy) out["policy"] = v.policy;
  return out;
}

// An entry as written by append: every field present with its type.
std::optional<PolicyVersion> fromJson(const json& j) {
  if (!j.is_object() || !j.contains("version") || !j["version"].is_number_unsigned() || !j.contains("rules") ||
      !j["rules"].is_number_unsigned() || !j.contains("policy") || !j["policy"].is_object()) {
    return std::nullopt;
  }
  for (const char* k : {"sha256", "at", "by", "reason"}) {
    if (!j.contains(k) || !j[k].is_string()) return std::nullopt;
  }
  return PolicyVersion{j["version"], j["sha256"], j["at"], j["by"], j["reason"], j["rules"], j["policy"]};
}

std::optional<PolicyVersion> readEntry(const fs::path& file, std::uint64_t version) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  auto entry = fromJson(parseInternalJson(s.str()));
  if (!entry || entry->version != version) return std::nullopt;
  return entry;
}

Result<void> ensureDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return syncDir(fs::path(dir).parent_path(), ErrorCode::PolicyPersistFailed);
  if (errno == EEXIST && fs::is_directory(dir)) return Ok{};
  return Error{ErrorCode::PolicyPersistFailed, "cannot create the policy history folder " + dir, "mkdir",
               static_cast<unsigned long>(errno)};
}

}  // namespace

PolicyHistory::PolicyHistory(std::string dir) : dir_(std::move(dir)) {
  if (!dir_.empty()) load();
}

std::string PolicyHistory::fileOf(std::uint64_t version) const {
  char name[32];
  std::snprintf(name, sizeof name, "%06llu.json", static_cast<unsigned long long>(version));
  return (fs::path(dir_) / name).string();
}

void PolicyHistory::load() {
  if (auto made = ensureDir(dir_); !made) {
    logEvent(LogLevel::Error, "policy_history_unavailable", {{"error", made.error().describe()}});
    return;
  }
  std::vector<std::uint64_t> versions;
  std::error_code ec;
  for (const auto& item : fs::directory_iterator(dir_, ec)) {
    if (auto v = versionOfName(item.path().filename().string())) versions.push_back(*v);
  }
  if (ec) logEvent(LogLevel::Error, "policy_history_unavailable", {{"dir", dir_}, {"error", ec.message()}});
  std::sort(versions.begin(), versions.end());
  for (std::uint64_t v : versions) {
    highest_ = std::max(highest_, v);
    auto entry = readEntry(fileOf(v), v);
    if (!entry) {
      logEvent(LogLevel::Error, "policy_history_entry_unreadable", {{"file", fileOf(v)}});
      continue;
    }
    entry->policy = nullptr;  // read from its file when asked for
    entries_.push_back(std::move(*entry));
  }
}

std::uint64_t PolicyHistory::nextVersion() const {
  std::lock_guard lock(mu_);
  return highest_ + 1;
}

std::optional<PolicyVersion> PolicyHistory::newest() const {
  std::lock_guard lock(mu_);
  if (entries_.empty()) return std::nullopt;
  PolicyVersion v = entries_.back();
  v.policy = nullptr;
  return v;
}

Result<void> PolicyHistory::append(const PolicyVersion& v) {
  std::lock_guard lock(mu_);
  if (v.version != highest_ + 1) {
    return makeError(ErrorCode::PolicyPersistFailed, "policy history: version " + std::to_string(v.version) +
                                                         " is not the next (" + std::to_string(highest_ + 1) + ")");
  }
  PolicyVersion kept = v;
  if (!dir_.empty()) {
    SEALGATE_TRY(ensureDir(dir_));
    SEALGATE_TRY(
        writeFileAtomically(fileOf(v.version), toJson(v, true).dump(2) + "\n", 0600, ErrorCode::PolicyPersistFailed));
    kept.policy = nullptr;
  }
  highest_ = v.version;
  entries_.push_back(std::move(kept));
  while (entries_.size() > kMaxVersions) {
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove(fileOf(entries_.front().version), ec);
      if (ec) {
        logEvent(LogLevel::Warn, "policy_history_trim_failed",
                 {{"file", fileOf(entries_.front().version)}, {"error", ec.message()}});
      }
    }
    entries_.pop_front();
  }
  return Ok{};
}

void PolicyHistory::dropNewest(std::uint64_t version) {
  std::lock_guard lock(mu_);
  if (entries_.empty() || entries_.back().version != version) return;
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove(fileOf(version), ec);
    if (ec) {
      logEvent(LogLevel::Error, "policy_history_rollback_failed", {{"file", fileOf(version)}, {"error", ec.message()}});
    } else {
      (void)syncDir(dir_, ErrorCode::PolicyPersistFailed);
    }
  }
  entries_.pop_back();
  // The number is free again unless its file stayed (it would read back at start).
  std::error_code ec;
  if (highest_ == version && (dir_.empty() || !fs::exists(fileOf(version), ec))) highest_ = version - 1;
}

std::vector<PolicyVersion> PolicyHistory::list(std::optional<std::uint64_t> before, std::size_t limit,
                                               bool* more) const {
  std::lock_guard lock(mu_);
  std::vector<PolicyVersion> out;
  *more = false;
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (before && it->version >= *before) continue;
    if (out.size() == limit) {
      *more = true;
      break;
    }
    PolicyVersion v = *it;
    v.policy = nullptr;
    out.push_back(std::move(v));
  }
  return out;
}

std::optional<PolicyVersion> PolicyHistory::find(std::uint64_t version) const {
  std::lock_guard lock(mu_);
  auto it =
      std::find_if(entries_.begin(), entries_.end(), [&](const PolicyVersion& v) { return v.version == version; });
  if (it == entries_.end()) return std::nullopt;
  if (dir_.empty()) return *it;
  return readEntry(fileOf(version), version);
}

}  // namespace sealgate::appliance
