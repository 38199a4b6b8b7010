// Hand-written parser: the grammar is project-specific and stricter than RFC 3986,
// so a generic URI library (Poco::URI) would accept and re-encode too much.
#include "core/secret_uri.h"

#include <algorithm>

namespace sealgate {
namespace {

// `sealgate-admin` names the admin side in certificates; it can never be a tenant.
constexpr std::string_view kReservedTenant = "sealgate-admin";

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool isAlnum(char c) { return isLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool isUnreserved(char c) { return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }
char toLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Error uriError(ErrorCode code, std::string message) { return makeError(code, std::move(message)); }

// Decodes %XX only where XX is an unreserved character; any other escape, or a
// malformed one, is URI_ENCODING. Decoding after splitting on delimiters is safe
// because an unreserved character is never a delimiter.
Result<std::string> decodeComponent(std::string_view in, const char* what) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size() || hexValue(in[i + 1]) < 0 || hexValue(in[i + 2]) < 0) {
      return uriError(uri_errc::kEncoding, std::string("malformed percent-escape in ") + what);
    }
    char decoded = static_cast<char>(hexValue(in[i + 1]) * 16 + hexValue(in[i + 2]));
    if (!isUnreserved(decoded)) {
      return uriError(uri_errc::kEncoding, std::string("percent-escape of a reserved or unsafe character in ") + what);
    }
    out.push_back(decoded);
    i += 2;
  }
  return out;
}

bool matchesTenantRule(std::string_view t) {
  if (t.empty() || t.size() > 63) return false;
  if (!isLowerAlnum(t.front()) || !isLowerAlnum(t.back())) return false;
  return std::all_of(t.begin(), t.end(), [](char c) { return isLowerAlnum(c) || c == '-'; });
}

bool matchesMountRule(std::string_view m) {
  if (m.empty() || m.size() > 63 || !isLowerAlnum(m.front())) return false;
  return std::all_of(m.begin(), m.end(), [](char c) { return isLowerAlnum(c) || c == '_' || c == '-'; });
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), toLower);
  return out;
}

Result<std::uint32_t> parseVersion(std::string_view digits) {
  if (digits.empty() || digits.size() > 10 || digits.front() == '0' ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return uriError(uri_errc::kVersion, "version must be an integer in 1..2147483647 without leading zeros");
  }
  std::uint64_t v = 0;
  for (char c : digits) v = v * 10 + static_cast<std::uint64_t>(c - '0');
  if (v > 2147483647u) return uriError(uri_errc::kVersion, "version must be at most 2147483647");
  return static_cast<std::uint32_t>(v);
}

}  // namespace

bool isValidTenantName(std::string_view tenant) { return matchesTenantRule(tenant) && tenant != kReservedTenant; }

Result<SecretUri> SecretUri::parse(std::string_view input) {
  if (input.size() > kMaxUriBytes) return uriError(uri_errc::kTooLong, "URI longer than 1024 bytes");
  for (char c : input) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return uriError(uri_errc::kCharset, "URI contains a control character, space or non-ASCII byte");
    }
  }

  const auto schemeEnd = input.find("://");
  if (schemeEnd == std::string_view::npos || lowercase(input.substr(0, schemeEnd)) != "secret") {
    return uriError(uri_errc::kScheme, "scheme must be secret://");
  }
  std::string_view rest = input.substr(schemeEnd + 3);

  // Split off fragment first, then query: '#' ends the query, '?' inside a
  // fragment is part of the fragment (and rejected by the field rule).
  std::optional<std::string_view> fragment, query;
  if (auto hash = rest.find('#'); hash != std::string_view::npos) {
    fragment = rest.substr(hash + 1);
    rest = rest.substr(0, hash);
  }
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }

  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view pathPart = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);

  if (authority.find('@') != std::string_view::npos) {
    return uriError(uri_errc::kAuthority, "authority must not carry userinfo");
  }
  if (authority.find(':') != std::string_view::npos) {
    return uriError(uri_errc::kAuthority, "authority must not carry a port");
  }

  SecretUri uri;
  {
    SEALGATE_ASSIGN_OR_RETURN(auto decoded, decodeComponent(authority, "tenant"));
    uri.tenant_ = lowercase(decoded);
    if (!isValidTenantName(uri.tenant_)) {
      return uriError(uri_errc::kTenant, "tenant must match [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])? and not be reserved");
    }
  }

  // pathPart is "" or starts with '/'.
  std::vector<std::string_view> rawSegments;
  if (!pathPart.empty()) {
    std::string_view p = pathPart.substr(1);
    while (true) {
      auto next = p.find('/');
      rawSegments.push_back(p.substr(0, next));
      if (next == std::string_view::npos) break;
      p = p.substr(next + 1);
    }
  }
  if (rawSegments.empty() || rawSegments.front().empty()) {
    return uriError(uri_errc::kMount, "a mount segment is required after the tenant");
  }

  {
    SEALGATE_ASSIGN_OR_RETURN(auto decoded, decodeComponent(rawSegments.front(), "mount"));
    if (decoded == "." || decoded == "..") {
      return uriError(uri_errc::kTraversal, "dot segments are not allowed");
    }
    uri.mount_ = lowercase(decoded);
    if (!matchesMountRule(uri.mount_)) {
      return uriError(uri_errc::kMount, "mount must match [a-z0-9][a-z0-9_-]{0,62}");
    }
  }

  const std::size_t pathCount = rawSegments.size() - 1;
  if (pathCount == 0) return uriError(uri_errc::kPath, "at least one path segment is required after the mount");
  if (pathCount > kMaxPathSegments) return uriError(uri_errc::kPath, "more than 32 path segments");
  for (std::size_t i = 1; i < rawSegments.size(); ++i) {
    if (rawSegments[i].empty()) return uriError(uri_errc::kEmptySegment, "empty path segment");
    SEALGATE_ASSIGN_OR_RETURN(auto decoded, decodeComponent(rawSegments[i], "path"));
    if (decoded == "." || decoded == "..") {
      return uriError(uri_errc::kTraversal, "dot segments are not allowed");
    }
    if (decoded.size() > kMaxSegmentChars) return uriError(uri_errc::kPath, "path segment longer than 128 characters");
    if (!std::all_of(decoded.begin(), decoded.end(), isUnreserved)) {
      return uriError(uri_errc::kPath, "path segments may contain only [A-Za-z0-9._~-]");
    }
    uri.path_.push_back(std::move(decoded));
  }

  if (query) {
    SEALGATE_ASSIGN_OR_RETURN(auto decoded, decodeComponent(*query, "query"));
    std::string_view q = decoded;
    constexpr std::string_view kKey = "version=";
    if (q.substr(0, kKey.size()) != kKey) {
      return uriError(uri_errc::kQuery, "the only query allowed is version=N, once");
    }
    std::string_view value = q.substr(kKey.size());
    if (value.find_first_of("&;=") != std::string_view::npos) {
      return uriError(uri_errc::kQuery, "the only query allowed is version=N, once");
    }
    SEALGATE_ASSIGN_OR_RETURN(auto v, parseVersion(value));
    uri.version_ = v;
  }

  if (fragment) {
    SEALGATE_ASSIGN_OR_RETURN(auto decoded, decodeComponent(*fragment, "field"));
    if (decoded.empty() || decoded.size() > 128 || !std::all_of(decoded.begin(), decoded.end(), [](char c) {
          return isAlnum(c) || c == '_' || c == '.' || c == '-';
        })) {
      return uriError(uri_errc::kField, "field must match [A-Za-z0-9_.-]{1,128}");
    }
    uri.field_ = std::move(decoded);
  }
  return uri;
}

std::string SecretUri::joinedPath() const {
  std::string out;
  for (const auto& seg : path_) {
    if (!out.empty()) out.push_back('/');
    out += seg;
  }
  return out;
}

std::string SecretUri::canonicalWithoutVersionAndField() const {
  return "secret://" + tenant_ + "/" + mount_ + "/" + joinedPath();
}

std::string SecretUri::canonical() const {
  std::string out = canonicalWithoutVersionAndField();
  if (version_) out += "?version=" + std::to_string(*version_);
  if (field_) out += "#" + *field_;
  return out;
}

std::string SecretUri::arn() const {
  std::string out = "arn:sealgate:secrets:v1:" + tenant_ + ":" + mount_ + "/" + joinedPath();
  if (version_) out += ":version=" + std::to_string(*version_);
  if (field_) out += ":field=" + *field_;
  return out;
}

Result<void> SecretUri::checkTenant(std::string_view callerTenant) const {
  if (tenant_ != callerTenant) {
    return uriError(uri_errc::kTenantMismatch, "the URI's tenant is not the caller's tenant");
  }
  return Ok{};
}

}  // namespace sealgate
