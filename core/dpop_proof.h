// DPoP proof validation, every check of RFC 9449 §4.3 (docs/STANDARDS.md).
//
// Error codes: DPOP_INVALID (any rule broken; the message names the rule and
// never echoes the proof), DPOP_REPLAY (jti seen within the window),
// DPOP_NONCE_REQUIRED (a server nonce is required and missing or stale),
// BINDING_MISMATCH (the proof's key is not the one the token is bound to). A
// StateStore failure passes through unchanged: callers fail closed.
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/interfaces/state_store.h"
#include "core/result.h"

namespace sealgate {

struct DpopPolicy {
  std::set<std::string> algorithms{"ES256"};  // "none" and HS* are never accepted
  std::chrono::seconds maxAge{60};            // how old iat may be
  std::chrono::seconds maxFutureSkew{5};      // how far in the future iat may be
};

struct DpopCheck {
  std::vector<std::string> headerValues;   // every DPoP header of the request
  std::string method;                      // htm must equal it
  std::string url;                         // the request URL the proof must name (htu)
  std::optional<std::string> accessToken;  // when presented: ath is required
  std::optional<std::string> boundJkt;     // the token's cnf.jkt
  std::vector<std::string> nonces;         // accepted server nonces; empty = none required
};

struct DpopResult {
  std::string jkt;  // RFC 7638 thumbprint of the proof's key
  std::string jti;
  std::int64_t iat = 0;
};

// RFC 3986 §6.2.2/6.2.3 normalization for htu comparison: lowercase scheme and
// host, default port dropped, empty path "/", unreserved escapes decoded and hex
// uppercased, query and fragment removed. Returns nullopt for a non-http(s) URL.
std::optional<std::string> normalizeHtu(std::string_view url);

Result<DpopResult> verifyDpopProof(const DpopCheck& check, const DpopPolicy& policy, StateStore& replay,
                                   std::chrono::system_clock::time_point now);

}  // namespace sealgate
