// Caller identity from a verified client certificate's SAN URI.
//   services:   spiffe://<tenant>/<service>
//   admin side: spiffe://sealgate-admin/<role>/<name>, role admin|auditor|approver
#pragma once

#include <openssl/x509.h>

#include <string>

#include "core/result.h"

namespace sealgate::appliance {

enum class IdentityKind { Service, Admin };

struct Identity {
  IdentityKind kind = IdentityKind::Service;
  std::string spiffeId;
  std::string tenant;          // services
  std::string service;         // services
  std::string role;            // admin side
  std::string name;            // admin side
  std::string certThumbprint;  // x5t#S256: base64url(SHA-256(DER))
};

// Parses one SPIFFE ID string into an Identity (no certificate involved).
Result<Identity> parseSpiffeId(const std::string& uri);

// Exactly one spiffe:// SAN URI is required; anything else is IDENTITY_INVALID.
Result<Identity> identityFromCertificate(X509* cert);

}  // namespace sealgate::appliance
