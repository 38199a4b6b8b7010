// What `sealgate approve` signs (docs/BREAKGLASS.md, "The approver CLI"): the
// break-glass request as the server shows it (GET
// /admin/v1/breakglass/requests/{id}, breakglass::toApiJson), rebuilt field by
// field into a breakglass::Request whose digest is recomputed here. The
// approver's TPM quotes SHA-256(that digest ‖ nonce): so what is shown is what
// is signed, and a server that shows one request while asking for the digest
// of another is refused before the TPM is touched.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "appliance/breakglass/request.h"
#include "core/result.h"

namespace sealgate::appliance {

// The request `requestId` from its API view, checked:
//   - INVALID_REQUEST: not an object, another id, a field of the canonical
//     encoding (id, requester, tenant, uri_prefixes, actions, mode, reason,
//     duration_seconds, expires_at, and approver for an enrol_approver or
//     remove_approver request) missing or mistyped, an unknown mode, an
//     approver named by an access request, a digest that is not 64 hex
//     digits, no 32-byte hex nonce;
//   - BREAKGLASS_REQUEST_EXPIRED / BREAKGLASS_REQUEST_CLOSED: the view says it
//     is no longer pending (it takes no approvals);
//   - REQUEST_DIGEST_MISMATCH: the fields shown do not hash to the digest shown.
Result<breakglass::Request> approvableRequest(const nlohmann::json& view, const std::string& requestId);

// `text` for a terminal: control characters (C0, DEL, and the C1 range in
// UTF-8) written as \xNN, so a field cannot move the cursor or hide a line.
std::string terminalSafe(std::string_view text);

// "2030-01-02 03:04:05 UTC".
std::string utcTime(std::int64_t unixSeconds);

// The request as the approver reviews it before confirming: every field of the
// digest, the approvals so far (from `view`), the digest.
std::string describeForApproval(const breakglass::Request& request, const nlohmann::json& view);

}  // namespace sealgate::appliance
