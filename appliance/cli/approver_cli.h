// `sealgate approver add|enroll|list` and `sealgate approve`: the break-glass
// approver's tooling (docs/BREAKGLASS.md, "The approver CLI"). They talk to
// the admin listener over mTLS (admin_client.h) and to the approver's TPM
// through keys/approver_tpm.h. Nothing they print is key material: AK
// fingerprints, digests and the request's fields only.
//
// Exit status: 0 done; 1 refused (by the server, the digest check, the
// approver at the prompt) or failed; 2 unusable input (a request id, a
// certificate of the wrong role, an AK handle).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "appliance/cli/admin_client.h"

namespace sealgate::appliance {

// POST /admin/v1/breakglass/approvers: an admin opens the enrolment of `name`
// (`pcrs` empty: the configured default selection).
int approverAdd(const AdminTls& tls, const std::string& name, const std::vector<unsigned>& pcrs, std::ostream& out,
                std::ostream& err);

// GET /admin/v1/breakglass/approvers.
int approverList(const AdminTls& tls, std::ostream& out, std::ostream& err);

struct EnrollCommand {
  AdminTls tls;          // the approver's own certificate
  std::string tcti;      // the approver's TPM
  std::string name;      // empty: the <name> of the certificate's spiffe://sealgate-admin/approver/<name>
  std::string akHandle;  // the AK's persistent handle (default 0x81010100)
};
// The approver's device enrolment (steps 2-4 of breakglass/approvers.h) on a
// pending enrolment; prints the enrolled AK's fingerprint.
int approverEnroll(const EnrollCommand& command, std::ostream& out, std::ostream& err);

struct ApproveCommand {
  AdminTls tls;  // an approver's certificate
  std::string tcti;
  std::string akHandle;
  std::string requestId;
  bool yes = false;  // approve without asking on the terminal
};
// Fetches the request, recomputes its digest from the fields shown (refused
// when it is not the server's), shows it, asks for confirmation on `in` unless
// command.yes (`interactive` false and no --yes: refused, nothing is signed),
// quotes SHA-256(digest ‖ nonce) with the enrolled AK over the enrolled PCRs
// and posts the approval; prints the approvals so far and whether it opened
// the window.
int approveRequest(const ApproveCommand& command, std::istream& in, bool interactive, std::ostream& out,
                   std::ostream& err);

}  // namespace sealgate::appliance
