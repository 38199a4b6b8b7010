// Delegation (API.md, POST /v1/grants/delegate; RFC 8693 act chain): what a
// holder asks for its child grant, and the child that asks for, never wider,
// longer-lived or with more uses than the parent, within the depth cap. No I/O:
// the PEP handler verifies the parent, reserves the child's uses, signs and
// audits.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "appliance/grants/grants.h"
#include "core/result.h"

namespace sealgate::appliance {

// The body of a delegate request (its fields already checked by name).
struct DelegationAsk {
  std::string grant;                                  // the parent, as presented
  std::string to;                                     // the service SPIFFE ID the child is for
  std::optional<std::string> jkt;                     // binds the child to this DPoP key
  std::optional<std::uint32_t> maxUses;               // default 1
  std::optional<std::int64_t> ttlSeconds;             // default: the parent's expiry
  std::optional<std::vector<std::string>> resources;  // default: the parent's
  std::optional<std::vector<std::string>> actions;    // default: the parent's on each resource
};

// INVALID_REQUEST for a malformed body; nothing about the parent is known yet.
Result<DelegationAsk> parseDelegationAsk(const nlohmann::json& body);

// NOLINTNEXTLINE(bugprone-exception-escape): holds an nlohmann::json (see server/http_server.h's Request)
struct ChildGrantPlan {
  std::string to;  // the child's holder (act.sub)
  std::vector<std::string> res;
  nlohmann::json obl;  // {resource_ref: {action: obligations}}, within the parent's
  std::int64_t exp = 0;
  std::uint32_t uses = 0;  // taken from the parent's when the child is issued
  std::size_t depth = 0;   // the child's place in the chain (1: delegated once)
  std::optional<std::string> jkt;
};

// SCOPE_WIDENED for anything the parent does not cover (another tenant, a
// resource, an action, a later expiry, more uses), DELEGATION_DEPTH past
// `maxDepth`, INVALID_REQUEST for values that cannot be (`to` not a service,
// a jkt that is no thumbprint, zero ttl, an empty resource list).
Result<ChildGrantPlan> planChildGrant(const GrantClaims& parent, const DelegationAsk& ask, std::int64_t now,
                                      std::size_t maxDepth);

// The child's claims: the parent's subject, decision and break-glass window
// (`bg`), the current actor outermost in `act`, the parent appended to the
// ancestry.
GrantClaims childClaims(const GrantClaims& parent, const ChildGrantPlan& plan, std::string jti, std::int64_t now);

}  // namespace sealgate::appliance
