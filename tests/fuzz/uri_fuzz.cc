// libFuzzer target for SecretUri::parse (docs/DESIGN.md "Canonical secret URIs").
// Any input must either be rejected with a URI_* code or yield a URI whose
// canonical form is stable, bounded, and well-formed. Violations trap.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/secret_uri.h"

namespace {

void check(bool cond) {
  if (!cond) __builtin_trap();
}

bool isLowerTenantOrMountChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool allLower(const std::string& s) {
  for (char c : s) {
    if (!isLowerTenantOrMountChar(c)) return false;
  }
  return true;
}

bool isPathChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using sealgate::SecretUri;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = SecretUri::parse(input);
  if (!parsed.ok()) {
    const auto& code = parsed.error().code;
    check(std::string_view(sealgate::errorCodeName(code)).starts_with("URI_"));
    check(!parsed.error().message.empty());
    return 0;
  }
  const SecretUri& uri = *parsed;

  // Accepted input obeys the whole-input rules.
  check(size <= sealgate::kMaxUriBytes);

  // Tenant and mount are folded to lowercase and valid.
  check(!uri.tenant().empty() && allLower(uri.tenant()));
  check(sealgate::isValidTenantName(uri.tenant()));
  check(!uri.mount().empty() && allLower(uri.mount()));

  // 1..32 path segments of 1..128 unreserved characters, no dot segments.
  check(!uri.path().empty() && uri.path().size() <= sealgate::kMaxPathSegments);
  for (const auto& seg : uri.path()) {
    check(!seg.empty() && seg.size() <= sealgate::kMaxSegmentChars);
    check(seg != "." && seg != "..");
    for (char c : seg) check(isPathChar(c));
  }
  if (uri.version()) check(*uri.version() >= 1u && *uri.version() <= 2147483647u);
  if (uri.field()) check(!uri.field()->empty() && uri.field()->size() <= 128);

  // Canonical form: bounded (decoding only shrinks), and a fixed point of parse.
  const std::string canonical = uri.canonical();
  check(canonical.size() <= size);
  check(canonical.size() <= sealgate::kMaxUriBytes);
  check(canonical.rfind("secret://", 0) == 0);
  check(uri.canonicalWithoutVersionAndField().size() <= canonical.size());
  check(canonical.rfind(uri.canonicalWithoutVersionAndField(), 0) == 0);

  auto again = SecretUri::parse(canonical);
  check(again.ok());
  check(again->canonical() == canonical);
  check(*again == uri);
  check(again->arn() == uri.arn());

  // ARN v1.
  constexpr std::string_view kArnPrefix = "arn:sealgate:secrets:v1:";
  const std::string arn = uri.arn();
  check(arn.rfind(kArnPrefix, 0) == 0);
  check(arn.compare(kArnPrefix.size(), uri.tenant().size() + 1, uri.tenant() + ":") == 0);

  // Tenant guard accepts exactly the URI's own tenant.
  check(uri.checkTenant(uri.tenant()).ok());
  const auto mismatch = uri.checkTenant(uri.tenant() + "x");
  check(!mismatch.ok() && mismatch.error().code == sealgate::ErrorCode::UriTenantMismatch);
  return 0;
}
