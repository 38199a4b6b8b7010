#include "appliance/cli/approver_cli.h"

#include <algorithm>
#include <iomanip>
#include <istream>
#include <ostream>

#include "appliance/breakglass/approvers.h"
#include "appliance/cli/approver_enrolment.h"
#include "appliance/cli/pki.h"
#include "appliance/cli/request_view.h"
#include "appliance/keys/approver_tpm.h"
#include "core/encoding.h"
#include "core/signed_note.h"
#include "core/wipe.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

constexpr const char* kApprovers = "/admin/v1/breakglass/approvers";
constexpr const char* kRequests = "/admin/v1/breakglass/requests/";

int fail(std::ostream& err, const char* command, const Error& e, int status = 1) {
  err << "sealgate " << command << ": " << terminalSafe(e.describe()) << "\n";
  return status;
}

Result<Bytes> base64Field(const json& answer, const char* name) {
  if (!answer.contains(name) || !answer[name].is_string()) {
    return makeError(ErrorCode::AdminClient, std::string("the answer has no '") + name + "'");
  }
  auto bytes = note::decodeBase64Std(answer[name].get<std::string>());
  if (!bytes || bytes->empty()) return makeError(ErrorCode::AdminClient, std::string("'") + name + "' is not base64");
  return std::move(*bytes);
}

std::string pcrList(const json& summary) {
  std::string out;
  if (summary.contains("pcrs") && summary["pcrs"].is_array()) {
    for (const auto& p : summary["pcrs"]) out += (out.empty() ? "" : ",") + p.dump();
  }
  return out;
}

// The approver's own entry in GET /admin/v1/breakglass/approvers.
Result<json> approverSummary(const AdminClient& client, const std::string& name) {
  SEALGATE_ASSIGN_OR_RETURN(auto list, client.get(kApprovers));
  if (!list.contains("approvers") || !list["approvers"].is_array()) {
    return makeError(ErrorCode::AdminClient, "the approver list has no 'approvers'");
  }
  for (const auto& a : list["approvers"]) {
    if (a.is_object() && a.value("name", "") == name) return a;
  }
  return makeError(ErrorCode::ApproverNotEnrolled, "there is no approver '" + name + "' on this appliance");
}

Result<std::vector<unsigned>> pcrsOf(const json& summary) {
  if (!summary.contains("pcrs") || !summary["pcrs"].is_array() || summary["pcrs"].empty()) {
    return makeError(ErrorCode::AdminClient, "the approver's entry has no PCR selection");
  }
  std::vector<unsigned> pcrs;
  for (const auto& p : summary["pcrs"]) {
    if (!p.is_number_unsigned() || p.get<std::uint64_t>() > 23) {
      return makeError(ErrorCode::AdminClient, "the approver's PCR selection is not PCRs 0..23");
    }
    pcrs.push_back(p.get<unsigned>());
  }
  return pcrs;
}

// The approver behind --cert: role approver, and its <name>.
Result<AdminIdentity> approverIdentity(const std::string& certFile) {
  SEALGATE_ASSIGN_OR_RETURN(auto id, adminIdentityOfCertificate(certFile));
  if (id.role != "approver") {
    return makeError(ErrorCode::Forbidden, "--cert is " + id.spiffeId +
                                               ": approving and enrolling take an approver's certificate "
                                               "(spiffe://sealgate-admin/approver/<name>)");
  }
  return id;
}

// Steps 2 and 4 over the admin listener, as approver/<name>.
class HttpEnrolmentPeer : public EnrolmentPeer {
 public:
  explicit HttpEnrolmentPeer(const AdminClient& client) : client_(client) {}

  Result<Credential> submitDevice(const std::string& name, const ApproverTpm::Device& device) override {
    SEALGATE_ASSIGN_OR_RETURN(auto answer, client_.post(std::string(kApprovers) + "/" + name + "/device",
                                                        json{{"ek_certificate", base64Std(device.ekCertificate)},
                                                             {"ek_public", base64Std(device.ekPublic)},
                                                             {"ak_public", base64Std(device.akPublic)}}));
    Credential c;
    SEALGATE_ASSIGN_OR_RETURN(c.credentialBlob, base64Field(answer, "credential_blob"));
    SEALGATE_ASSIGN_OR_RETURN(c.encryptedSecret, base64Field(answer, "encrypted_secret"));
    return c;
  }

  Result<std::string> activate(const std::string& name, const Secret& secret,
                               const ApproverTpm::Quote& quote) override {
    std::string secretText = base64Std(secret.exposeSecretBytes());
    json body = {
        {"secret", secretText}, {"attest", base64Std(quote.attest)}, {"signature", base64Std(quote.signature)}};
    wipeString(secretText);
    auto answer = client_.post(std::string(kApprovers) + "/" + name + "/activate", body);
    wipeJson(body);
    if (!answer) return answer.error();
    if (answer->value("state", "") != "enrolled" || !(*answer)["ak_fingerprint"].is_string()) {
      return makeError(ErrorCode::AdminClient, "the activation's answer is not an enrolled approver");
    }
    return (*answer)["ak_fingerprint"].get<std::string>();
  }

 private:
  const AdminClient& client_;
};

bool validRequestId(const std::string& id) {
  return id.size() == 32 &&
         std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

int approverAdd(const AdminTls& tls, const std::string& name, const std::vector<unsigned>& pcrs, std::ostream& out,
                std::ostream& err) {
  if (!breakglass::validApproverName(name)) {
    return fail(err, "approver add",
                makeError(ErrorCode::InvalidRequest, "an approver name is [a-z0-9][a-z0-9._-]{0,63}"), 2);
  }
  auto client = AdminClient::create(tls);
  if (!client) return fail(err, "approver add", client.error(), 2);
  json body = {{"name", name}};
  if (!pcrs.empty()) body["pcrs"] = pcrs;
  auto created = client->post(kApprovers, body);
  if (!created) return fail(err, "approver add", created.error());
  out << "pending enrolment for approver " << terminalSafe(name) << " (PCRs " << pcrList(*created)
      << "): the approver now runs `sealgate approver enroll` with their certificate and TPM\n";
  return 0;
}

int approverList(const AdminTls& tls, std::ostream& out, std::ostream& err) {
  auto client = AdminClient::create(tls);
  if (!client) return fail(err, "approver list", client.error(), 2);
  auto list = client->get(kApprovers);
  if (!list) return fail(err, "approver list", list.error());
  out << std::left << std::setw(24) << "NAME" << std::setw(12) << "STATE" << std::setw(20) << "PCRS"
      << "AK FINGERPRINT\n";
  if (list->contains("approvers") && (*list)["approvers"].is_array()) {
    for (const auto& a : (*list)["approvers"]) {
      if (!a.is_object()) continue;
      out << std::setw(24) << terminalSafe(a.value("name", "")) << std::setw(12) << terminalSafe(a.value("state", ""))
          << std::setw(20) << pcrList(a) << terminalSafe(a.value("ak_fingerprint", "")) << "\n";
    }
  }
  if (list->contains("quorum")) out << "quorum: " << (*list)["quorum"].dump() << "\n";
  return 0;
}

int approverEnroll(const EnrollCommand& c, std::ostream& out, std::ostream& err) {
  constexpr const char* kCmd = "approver enroll";
  auto id = approverIdentity(c.tls.certFile);
  if (!id) return fail(err, kCmd, id.error(), 2);
  const std::string name = c.name.empty() ? id->name : c.name;
  if (!breakglass::validApproverName(name)) {
    return fail(err, kCmd, makeError(ErrorCode::InvalidRequest, "an approver name is [a-z0-9][a-z0-9._-]{0,63}"), 2);
  }
  auto handle = parsePersistentHandle(c.akHandle);
  if (!handle) return fail(err, kCmd, handle.error(), 2);
  auto client = AdminClient::create(c.tls);
  if (!client) return fail(err, kCmd, client.error(), 2);

  auto summary = approverSummary(*client, name);
  if (!summary && summary.error().code == ErrorCode::ApproverNotEnrolled) {
    return fail(
        err, kCmd,
        makeError(ErrorCode::ApproverNotPending, "no enrolment is open for approver " + name +
                                                     ": an admin opens it with `sealgate approver add " + name + "`"));
  }
  if (!summary) return fail(err, kCmd, summary.error());
  const std::string state = summary->value("state", "");
  if (state == "enrolled") {
    return fail(err, kCmd,
                makeError(ErrorCode::ApproverExists, "approver " + name + " is enrolled already (AK " +
                                                         summary->value("ak_fingerprint", "") + ")"));
  }
  auto pcrs = pcrsOf(*summary);
  if (!pcrs) return fail(err, kCmd, pcrs.error());

  auto tpm = ApproverTpm::open(c.tcti);
  if (!tpm) return fail(err, kCmd, tpm.error());
  HttpEnrolmentPeer peer(*client);
  auto enrolled = enrolApproverDevice(**tpm, peer, name, *pcrs, *handle);
  if (!enrolled) return fail(err, kCmd, enrolled.error());
  char handleText[16];
  std::snprintf(handleText, sizeof handleText, "0x%08x", *handle);
  out << "enrolled approver " << terminalSafe(name) << "\n"
      << "  AK fingerprint  " << enrolled->akFingerprint << "\n"
      << "  AK              " << handleText << (enrolled->akCreated ? " (created)" : " (already in the TPM, reused)")
      << "\n"
      << "  PCRs            " << pcrList(*summary) << " (SHA-256; their values now are the golden ones)\n";
  return 0;
}

int approveRequest(const ApproveCommand& c, std::istream& in, bool interactive, std::ostream& out, std::ostream& err) {
  constexpr const char* kCmd = "approve";
  if (!validRequestId(c.requestId)) {
    return fail(err, kCmd, makeError(ErrorCode::InvalidRequest, "a request id is 32 lowercase hex digits"), 2);
  }
  auto id = approverIdentity(c.tls.certFile);
  if (!id) return fail(err, kCmd, id.error(), 2);
  auto handle = parsePersistentHandle(c.akHandle);
  if (!handle) return fail(err, kCmd, handle.error(), 2);
  auto client = AdminClient::create(c.tls);
  if (!client) return fail(err, kCmd, client.error(), 2);

  auto view = client->get(kRequests + c.requestId);
  if (!view) return fail(err, kCmd, view.error());
  auto request = approvableRequest(*view, c.requestId);
  if (!request) return fail(err, kCmd, request.error());
  auto summary = approverSummary(*client, id->name);
  if (!summary) return fail(err, kCmd, summary.error());
  if (summary->value("state", "") != "enrolled") {
    return fail(err, kCmd,
                makeError(ErrorCode::ApproverNotEnrolled,
                          "approver " + id->name + " has no enrolled TPM (state " + summary->value("state", "") + ")"));
  }
  auto pcrs = pcrsOf(*summary);
  if (!pcrs) return fail(err, kCmd, pcrs.error());
  const std::string enrolledAk = summary->value("ak_fingerprint", "");

  out << describeForApproval(*request, *view) << std::flush;
  if (!c.yes) {
    if (!interactive) {
      return fail(err, kCmd,
                  makeError(ErrorCode::InvalidRequest,
                            "no terminal to confirm on: review the request above and run again with --yes"));
    }
    out << "Approve this request as " << id->name << ", with this TPM? Type 'yes' to approve: " << std::flush;
    std::string answer;
    std::getline(in, answer);
    if (answer != "yes") {
      out << "not approved: nothing was signed\n";
      return 1;
    }
  }

  auto tpm = ApproverTpm::open(c.tcti);
  if (!tpm) return fail(err, kCmd, tpm.error());
  auto localAk = (*tpm)->akFingerprint(*handle);
  if (!localAk) return fail(err, kCmd, localAk.error());
  const auto challenge = breakglass::qualifyingData(*request);
  auto quote = (*tpm)->quote(challenge, *pcrs, *handle);
  if (!quote) return fail(err, kCmd, quote.error());
  auto approved = client->post(kRequests + c.requestId + "/approvals",
                               json{{"attest", base64Std(quote->attest)}, {"signature", base64Std(quote->signature)}});
  if (!approved) {
    const int status = fail(err, kCmd, approved.error());
    if (*localAk != enrolledAk) {
      err << "  this TPM's AK (" << *localAk << ") is not the one enrolled for " << id->name << " ("
          << terminalSafe(enrolledAk) << ")\n";
    }
    return status;
  }
  const auto count = (*approved)["approvals"].is_array() ? (*approved)["approvals"].size() : 0;
  out << "approved as " << id->name << " (AK " << *localAk << "): " << count << " approval(s)";
  if (approved->value("opened", false)) {
    out << "; this approval opened the window, until " << utcTime(approved->value("ends_at", std::int64_t{0})) << "\n";
  } else {
    out << ", " << approved->value("approvals_needed", std::uint64_t{0}) << " more needed; state "
        << terminalSafe(approved->value("state", "")) << "\n";
  }
  return 0;
}

}  // namespace sealgate::appliance
