// Connector: performs an action with secrets placed in slots, so that callers use
// a secret without reading it (POST /v1/execute, docs/CONNECTORS.md).
//
// Contract:
//  - validate() does no I/O and changes no state. It checks everything that can
//    fail before the attempt: the action's shape, that `{{slot:name}}`
//    placeholders sit only where this connector allows them, and the tenant's
//    allow-lists. It returns the slot names the action references.
//  - run() performs a validated action with the slots substituted. Slot values are
//    used only to talk to the peer: never logged, never put in an error message.
//    Its errors are written by the connector (fixed text, at most a peer status or
//    SQLSTATE), never peer bytes that could carry a secret. Its result is the
//    peer's answer before the egress guard; the caller scrubs it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/secret.h"

namespace sealgate {

// Stable error codes of connectors (API.md). The first group is refused before
// the attempt (nothing is spent); the second happens after it (the use is spent).
namespace connector_errc {
inline constexpr ErrorCode kInvalidAction = ErrorCode::InvalidAction;                // 400: malformed action
inline constexpr ErrorCode kPlaceholderForbidden = ErrorCode::PlaceholderForbidden;  // 400: a slot where none may go
inline constexpr ErrorCode kDestinationForbidden = ErrorCode::DestinationForbidden;  // 403: host not on the allow-list
inline constexpr ErrorCode kCommandForbidden = ErrorCode::CommandForbidden;          // 403: ssh command not allowed
inline constexpr ErrorCode kPlaintextForbidden = ErrorCode::PlaintextForbidden;      // 403: a credential in the clear
inline constexpr ErrorCode kHostKeyNotPinned = ErrorCode::HostKeyNotPinned;  // 403: ssh host without a policy pin

inline constexpr ErrorCode kPeerUnreachable = ErrorCode::PeerUnreachable;  // 502: connect failed
inline constexpr ErrorCode kPeerTimeout = ErrorCode::PeerTimeout;          // 504: the peer did not answer in time
inline constexpr ErrorCode kPeerTlsFailed = ErrorCode::PeerTlsFailed;      // 502: certificate or handshake
inline constexpr ErrorCode kPeerHostKeyMismatch =
    ErrorCode::PeerHostKeyMismatch;                                      // 502: ssh host key not the pinned one
inline constexpr ErrorCode kPeerAuthFailed = ErrorCode::PeerAuthFailed;  // 502: the peer refused the credential
inline constexpr ErrorCode kPeerError = ErrorCode::PeerError;            // 502: the peer refused the operation
inline constexpr ErrorCode kPeerResponseTooLarge = ErrorCode::PeerResponseTooLarge;  // 502: over the size cap
inline constexpr ErrorCode kSecretUnusable = ErrorCode::SecretUnusable;              // 422: e.g. not a PEM key
}  // namespace connector_errc

// ssh: the host keys trusted for one destination, from the tenant's policy
// (egress.<tenant>.ssh.host_keys). Never from the caller.
struct HostKeyPin {
  std::string host;                 // lowercase host name or IP literal (no brackets, no wildcard)
  std::uint16_t port = 0;           // 0: any port of `host`
  std::vector<std::string> sha256;  // "SHA256:<43 base64 characters>", as ssh-keygen -lf prints them
};

// What a tenant's policy lets one connector reach (docs/POLICY.md, "egress").
struct EgressRules {
  std::vector<std::string> hosts;     // lowercase host names or IP literals; "*.example.com" = any subdomain
  std::vector<std::uint16_t> ports;   // empty: any port
  std::vector<std::string> commands;  // ssh: the exact command lines allowed
  bool plaintext = false;  // postgres sslmode disable / ldap:// without StartTLS: the credential in the clear
  std::vector<HostKeyPin> hostKeys{};  // ssh: the pinned host keys; a host without one is never contacted
};

// The pins for `host`:`port`: the entry naming that port if there is one, else
// the host's any-port entry; nullptr when the policy pins neither.
const std::vector<std::string>* pinnedHostKeys(const EgressRules& rules, const std::string& host, std::uint16_t port);

// True when `host` (lowercase, without brackets) and `port` are allowed.
bool egressHostAllowed(const EgressRules& rules, const std::string& host, std::uint16_t port);

struct ConnectorContext {
  std::string tenant;
  EgressRules rules;
  std::chrono::milliseconds timeout{10000};  // the whole action, connect included
  std::size_t maxResponseBytes = 1 << 20;    // what the peer may send back
  std::string caFile;                        // PEM bundle TLS peers must chain to
  // Slots whose secret URI names a `#username` field: the only slots a login name
  // (postgres and ssh `user`) may come from, since the peer can say it back
  // (current_user) in any form the caller's query likes.
  std::set<std::string> usernameSlots;
};

// Slot name -> its value, live for the action only.
using SlotValues = std::map<std::string, const Secret*>;

class Connector {
 public:
  virtual ~Connector() = default;
  // The connector's name in requests ("rest", "postgres", "ldap", "ssh", "hmac", "sign").
  virtual std::string name() const = 0;
  virtual Result<std::set<std::string>> validate(const nlohmann::json& action,
                                                 const ConnectorContext& context) const = 0;
  virtual Result<nlohmann::json> run(const nlohmann::json& action, const ConnectorContext& context,
                                     const SlotValues& slots) = 0;
};

}  // namespace sealgate
