// KV v2 request paths and bodies (docs/STANDARDS.md "KV v2"), validated apart from the
// HTTP layer so that they can be fuzzed alone (tests/fuzz/kv_request_fuzz.cc).
// Errors are KV_INVALID or UNKNOWN_FIELD (HTTP 400), NOT_FOUND for a path that
// names no endpoint, and never echo values.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace sealgate::kv {

inline constexpr ErrorCode kInvalid = ErrorCode::KvInvalid;
inline constexpr std::size_t kMaxVersionsPerRequest = 1000;

// "/v1/" + "<mount>/<op>[/<path>]": op is data, metadata, delete, undelete,
// destroy or config. `path` follows the secret URI path grammar; for metadata
// it may be empty or end in '/' (a list). NOT_FOUND when `rest` names no KV
// endpoint (no mount/op, an unknown op), KV_INVALID for a bad mount or path.
struct Target {
  std::string mount;
  std::string op;
  std::string path;
};
Result<Target> parseTarget(std::string_view rest);

// POST|PUT data: {"data":{...},"options":{"cas":N}}
struct DataWrite {
  nlohmann::json data;
  std::optional<std::uint32_t> cas;
};
Result<DataWrite> parseDataWrite(const nlohmann::json& body);

// delete/undelete/destroy: {"versions":[N,...]}; `required` false allows none.
Result<std::vector<std::uint32_t>> parseVersions(const nlohmann::json& body, bool required);

// metadata and config writes. Only custom_metadata is absent from config.
struct SettingsWrite {
  std::optional<std::uint32_t> maxVersions;
  std::optional<bool> casRequired;
  std::optional<std::chrono::seconds> deleteVersionAfter;
  std::optional<nlohmann::json> customMetadata;
};
Result<SettingsWrite> parseMetadataWrite(const nlohmann::json& body, bool patch);
Result<SettingsWrite> parseConfigWrite(const nlohmann::json& body);

// ?version=N (absent: 0 = the current one), ?list=true.
Result<std::uint32_t> parseVersionQuery(std::string_view query);
bool listQuery(std::string_view query);

// Go duration text as Vault writes it ("0s", "1h2m3s"), and its parser (also a
// bare number of seconds, as Vault accepts). At most 100 years.
std::string formatGoDuration(std::chrono::seconds d);
std::optional<std::chrono::seconds> parseGoDuration(const nlohmann::json& value);

}  // namespace sealgate::kv
