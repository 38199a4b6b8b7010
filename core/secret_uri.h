// Canonical secret URIs: secret://<tenant>/<mount>/<path>[?version=<n>][#<field>]
// The grammar and its error codes are docs/DESIGN.md's table, implemented exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace sealgate {

// Stable error codes of the URI grammar (docs/API.md / docs/DESIGN.md).
namespace uri_errc {
inline constexpr ErrorCode kTooLong = ErrorCode::UriTooLong;
inline constexpr ErrorCode kCharset = ErrorCode::UriCharset;
inline constexpr ErrorCode kScheme = ErrorCode::UriScheme;
inline constexpr ErrorCode kAuthority = ErrorCode::UriAuthority;
inline constexpr ErrorCode kTenant = ErrorCode::UriTenant;
inline constexpr ErrorCode kMount = ErrorCode::UriMount;
inline constexpr ErrorCode kPath = ErrorCode::UriPath;
inline constexpr ErrorCode kEmptySegment = ErrorCode::UriEmptySegment;
inline constexpr ErrorCode kEncoding = ErrorCode::UriEncoding;
inline constexpr ErrorCode kTraversal = ErrorCode::UriTraversal;
inline constexpr ErrorCode kQuery = ErrorCode::UriQuery;
inline constexpr ErrorCode kVersion = ErrorCode::UriVersion;
inline constexpr ErrorCode kField = ErrorCode::UriField;
inline constexpr ErrorCode kTenantMismatch = ErrorCode::UriTenantMismatch;
}  // namespace uri_errc

inline constexpr std::size_t kMaxUriBytes = 1024;
inline constexpr std::size_t kMaxPathSegments = 32;
inline constexpr std::size_t kMaxSegmentChars = 128;

class SecretUri {
 public:
  // Parses and normalizes `input`. Error messages describe the rule that failed
  // and never echo the input (URIs are sensitive).
  static Result<SecretUri> parse(std::string_view input);

  const std::string& tenant() const { return tenant_; }
  const std::string& mount() const { return mount_; }
  const std::vector<std::string>& path() const { return path_; }
  std::optional<std::uint32_t> version() const { return version_; }
  const std::optional<std::string>& field() const { return field_; }

  // secret://tenant/mount/a/b[?version=N][#field]
  std::string canonical() const;
  // secret://tenant/mount/a/b — what policy globs match against.
  std::string canonicalWithoutVersionAndField() const;
  // arn:sealgate:secrets:v1:tenant:mount/a/b[:version=N][:field=F]
  std::string arn() const;
  // "a/b": the path below the mount.
  std::string joinedPath() const;

  // Tenant guard: the URI's tenant must be the caller's.
  Result<void> checkTenant(std::string_view callerTenant) const;

  bool operator==(const SecretUri&) const = default;

 private:
  std::string tenant_;
  std::string mount_;
  std::vector<std::string> path_;
  std::optional<std::uint32_t> version_;
  std::optional<std::string> field_;
};

// True when `tenant` matches the tenant rule (already lowercase) and is not reserved.
bool isValidTenantName(std::string_view tenant);

}  // namespace sealgate
