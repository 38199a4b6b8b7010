#include "appliance/server/identity.h"

#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include <algorithm>

#include "core/encoding.h"
#include "core/openssl_ptr.h"
#include "core/secret_uri.h"

namespace sealgate::appliance {
namespace {

Error invalid(const std::string& why) { return makeError(ErrorCode::IdentityInvalid, why); }

bool validServiceName(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

}  // namespace

Result<Identity> parseSpiffeId(const std::string& uri) {
  constexpr std::string_view kScheme = "spiffe://";
  if (uri.size() > 2048 || uri.compare(0, kScheme.size(), kScheme) != 0) return invalid("not a spiffe:// ID");
  std::string rest = uri.substr(kScheme.size());
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto slash = rest.find('/', start);
    parts.push_back(rest.substr(start, slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  Identity id;
  id.spiffeId = uri;
  if (parts.size() == 3 && parts[0] == "sealgate-admin") {
    if (parts[1] != "admin" && parts[1] != "auditor" && parts[1] != "approver") return invalid("unknown admin role");
    if (!validServiceName(parts[2])) return invalid("bad admin name");
    id.kind = IdentityKind::Admin;
    id.role = parts[1];
    id.name = parts[2];
    return id;
  }
  if (parts.size() != 2) return invalid("a service ID is spiffe://<tenant>/<service>");
  if (!isValidTenantName(parts[0])) return invalid("bad tenant in SPIFFE ID");
  if (!validServiceName(parts[1])) return invalid("bad service name in SPIFFE ID");
  id.kind = IdentityKind::Service;
  id.tenant = parts[0];
  id.service = parts[1];
  return id;
}

Result<Identity> identityFromCertificate(X509* cert) {
  if (cert == nullptr) return makeError(ErrorCode::Unauthenticated, "a client certificate is required");
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  std::string spiffe;
  int spiffeCount = 0;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_URI) continue;
    const auto* s = gn->d.uniformResourceIdentifier;
    std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                  static_cast<std::size_t>(ASN1_STRING_length(s)));
    if (v.rfind("spiffe://", 0) == 0) {
      spiffe = v;
      ++spiffeCount;
    }
  }
  names.reset();
  if (spiffeCount != 1) return invalid("the certificate must carry exactly one spiffe:// SAN URI");
  auto id = parseSpiffeId(spiffe);
  if (!id) return id;
  unsigned char md[SHA256_DIGEST_LENGTH];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return invalid("cannot hash the certificate");
  id->certThumbprint = base64UrlNoPad(std::span<const std::uint8_t>(md, len));
  return id;
}

}  // namespace sealgate::appliance
