// The break-glass endpoints over the real BreakGlass and Approvers, with the
// scripted device attestation (test_util.h), the in-memory state and a
// recording audit log: identities, bodies, answers, audit events. The same flow
// over real swtpm devices and a running sealgated is tests/e2e/.
#include "appliance/breakglass/breakglass_api.h"

#include <gtest/gtest.h>

#include "appliance/breakglass/test_util.h"
#include "core/signed_note.h"
#include "tests/support/appliance_fakes.h"
#include "tests/support/memory_state_store.h"

namespace sealgate::appliance::breakglass {
namespace {

using namespace fakes;  // NOLINT(google-build-using-namespace): the folder's test doubles
using nlohmann::json;

constexpr std::int64_t kStart = 1'800'000'000;
const std::vector<unsigned> kPcrs = {0, 1, 2, 3, 7, 16};

Identity adminSide(const std::string& role, const std::string& name) {
  Identity id;
  id.kind = IdentityKind::Admin;
  id.role = role;
  id.name = name;
  id.spiffeId = "spiffe://sealgate-admin/" + role + "/" + name;
  id.certThumbprint = "thumb-" + name;
  return id;
}

Settings testSettings() {
  Settings s;
  s.enabled = true;
  s.quorum = 2;
  s.maxDurationSeconds = 600;
  s.requestTtlSeconds = 300;
  return s;
}

class BreakGlassApiTest : public ::testing::Test {
 protected:
  HandlerResult call(HandlerResult (BreakGlassApi::*handler)(HttpRequest&), const Identity& who, json body = {},
                     const std::string& param = "") {
    HttpRequest r;
    r.correlationId = "corr-1";
    r.identity = who;
    r.body = body.is_null() ? json::object() : std::move(body);
    r.pathParam = param;
    return (api_.*handler)(r);
  }
  static const Response& ok(const HandlerResult& result) {
    if (const auto* err = std::get_if<HttpError>(&result)) ADD_FAILURE() << err->message;
    return std::get<Response>(result);
  }
  static std::optional<ErrorCode> code(const HandlerResult& result) {
    const auto* err = std::get_if<HttpError>(&result);
    return err == nullptr ? std::nullopt : std::optional(err->code);
  }

  // Enrols approver <name> with device <name> through the three HTTP steps.
  void enrol(const std::string& name) {
    ok(call(&BreakGlassApi::createApprover, admin_, json{{"name", name}}));
    const Identity self = adminSide("approver", name);
    ok(call(&BreakGlassApi::submitDevice, self,
            json{{"ek_certificate", base64Std(text("cert-" + name))},
                 {"ek_public", base64Std(text("ek-" + name))},
                 {"ak_public", base64Std(text("ak-" + name))}},
            name));
    const Bytes qd = sha256(att_.issued->exposeSecretBytes());
    ok(call(&BreakGlassApi::activate, self,
            json{{"secret", base64Std(att_.issued->exposeSecretBytes())},
                 {"attest", base64Std(ScriptedAttestation::quote("ak-" + name, qd, kPcrs, "golden", clock_++))},
                 {"signature", base64Std(text("sig"))}},
            name));
  }

  json createRequest(const std::string& mode = "pdp_outage") {
    return ok(call(&BreakGlassApi::createRequest, admin_,
                   json{{"tenant", "acme"},
                        {"uri_prefixes", {"secret://acme/kv/payments"}},
                        {"actions", {"use"}},
                        {"mode", mode},
                        {"reason", "PDP outage INC-42"},
                        {"duration_seconds", 120u}}))
        .body;
  }

  // An approval body by <name>'s device for the request `id` as stored.
  json approval(const std::string& name, const std::string& id) {
    const auto r = service_.find(id);
    EXPECT_TRUE(r.has_value());
    const auto qd = qualifyingData(*r);
    return json{{"attest", base64Std(ScriptedAttestation::quote("ak-" + name, qd, kPcrs, "golden", clock_++))},
                {"signature", base64Std(text("sig"))}};
  }

  std::vector<json> eventsOfType(const std::string& type) const {
    std::vector<json> out;
    for (const auto& e : audit_.events) {
      if (e["type"] == type) out.push_back(e);
    }
    return out;
  }

  Settings settings_ = testSettings();
  MemoryStateStore state_;
  ScriptedAttestation att_;
  Approvers approvers_{state_, att_, settings_};
  BreakGlass service_{state_, approvers_, settings_};
  appliance::testing::fakes::RecordingAudit audit_;
  std::int64_t now_ = kStart;
  std::uint64_t clock_ = 1000;
  BreakGlassApi api_{service_, approvers_, audit_, [this] { return now_; }};
  // As the application wires it: approver changes after bootstrap need an open window.
  bool wired_ = [this] {
    approvers_.setQuorumApproval([this](const std::string& name, bool removal) {
      return service_.approverChangeWindow(name, removal ? Mode::RemoveApprover : Mode::EnrolApprover, now_)
          .has_value();
    });
    return true;
  }();
  Identity admin_ = adminSide("admin", "root");
};

TEST_F(BreakGlassApiTest, TwoApprovalsOpenTheWindowAndEveryStepIsAudited) {
  enrol("alice");
  enrol("bob");
  EXPECT_EQ(eventsOfType("breakglass_approver").size(), 6u);  // pending, challenged, enrolled, twice
  const json created = createRequest();
  const std::string id = created["id"];
  EXPECT_EQ(created["state"], "pending");
  EXPECT_EQ(created["approvals_needed"], 2);
  EXPECT_EQ(created["nonce"].get<std::string>().size(), 64u);
  ASSERT_EQ(eventsOfType("breakglass_request").size(), 1u);
  EXPECT_EQ(eventsOfType("breakglass_request")[0]["digest"], created["digest"]);

  auto first = ok(call(&BreakGlassApi::approve, adminSide("approver", "alice"), approval("alice", id), id)).body;
  EXPECT_FALSE(first["opened"].get<bool>());
  EXPECT_EQ(first["approvals_needed"], 1);
  EXPECT_FALSE(service_.windowOpen(id, now_));
  auto second = ok(call(&BreakGlassApi::approve, adminSide("approver", "bob"), approval("bob", id), id)).body;
  EXPECT_TRUE(second["opened"].get<bool>());
  EXPECT_EQ(second["state"], "open");
  EXPECT_TRUE(service_.windowOpen(id, now_));
  EXPECT_EQ(api_.openWindows(), 1u);

  ASSERT_EQ(eventsOfType("breakglass_approval").size(), 2u);
  const auto opened = eventsOfType("breakglass_opened");
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_EQ(opened[0]["request_id"], id);
  EXPECT_EQ(opened[0]["approvers"], json({"alice", "bob"}));
  EXPECT_EQ(opened[0]["ends_at"], now_ + 120);
  EXPECT_EQ(opened[0]["actor"]["spiffe_id"], "spiffe://sealgate-admin/approver/bob");

  // It ends by itself: the settler stores the end and records it.
  now_ += 121;
  api_.settle();
  EXPECT_FALSE(service_.windowOpen(id, now_));
  const auto closed = eventsOfType("breakglass_closed");
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0]["ended_by"], "expiry");
  api_.settle();  // once only
  EXPECT_EQ(eventsOfType("breakglass_closed").size(), 1u);
}

TEST_F(BreakGlassApiTest, RefusedApprovalsAreAuditedAndChangeNothing) {
  enrol("alice");
  enrol("root");  // approver/root is the same person as admin/root, the requester
  const std::string id = createRequest()["id"];
  const auto before = service_.find(id)->approvals.size();

  EXPECT_EQ(code(call(&BreakGlassApi::approve, adminSide("approver", "root"), approval("root", id), id)),
            ErrorCode::ApprovalSelf);
  // A quote made for the request by another device.
  EXPECT_EQ(code(call(&BreakGlassApi::approve, adminSide("approver", "alice"), approval("root", id), id)),
            ErrorCode::QuoteSignatureInvalid);
  EXPECT_EQ(code(call(&BreakGlassApi::approve, adminSide("approver", "carol"), approval("alice", id), id)),
            ErrorCode::ApproverNotEnrolled);
  EXPECT_EQ(code(call(&BreakGlassApi::approve, adminSide("approver", "alice"), approval("alice", id), "nope")),
            ErrorCode::BreakglassRequestUnknown);
  EXPECT_EQ(service_.find(id)->approvals.size(), before);
  const auto refused = eventsOfType("breakglass_approval");
  ASSERT_EQ(refused.size(), 4u);
  EXPECT_EQ(refused[0]["outcome"], "refused");
  EXPECT_EQ(refused[0]["reason"], "APPROVAL_SELF");

  ok(call(&BreakGlassApi::approve, adminSide("approver", "alice"), approval("alice", id), id));
  EXPECT_EQ(code(call(&BreakGlassApi::approve, adminSide("approver", "alice"), approval("alice", id), id)),
            ErrorCode::ApprovalDuplicate);
}

TEST_F(BreakGlassApiTest, BadBodiesAreRefusedBeforeAnythingIsAsked) {
  enrol("alice");
  const std::string id = createRequest()["id"];
  const Identity alice = adminSide("approver", "alice");
  const json bodies[] = {
      json::object(),
      json{{"attest", "AAAA"}},
      json{{"attest", "AAAA"}, {"signature", "AAAA"}, {"extra", 1}},
      json{{"attest", 5}, {"signature", "AAAA"}},
      json{{"attest", "not base64!"}, {"signature", "AAAA"}},
      json{{"attest", ""}, {"signature", "AAAA"}},
      json{{"attest", std::string(8000, 'A')}, {"signature", "AAAA"}},
  };
  for (const auto& body : bodies) {
    const auto c = code(call(&BreakGlassApi::approve, alice, body, id));
    EXPECT_TRUE(c == ErrorCode::InvalidRequest || c == ErrorCode::UnknownField) << body.dump();
  }
  EXPECT_TRUE(service_.find(id)->approvals.empty());
  EXPECT_TRUE(eventsOfType("breakglass_approval").empty());
  // Request bodies: the parser's refusals (UNKNOWN_FIELD, INVALID_REQUEST, URI_*) come through.
  EXPECT_EQ(code(call(&BreakGlassApi::createRequest, admin_,
                      json{{"mode", "pdp_outage"}, {"tenant", "acme"}, {"surprise", 1}})),
            ErrorCode::UnknownField);
  EXPECT_EQ(code(call(&BreakGlassApi::createRequest, admin_,
                      json{{"tenant", "acme"},
                           {"uri_prefixes", {"secret://acme/kv/p"}},
                           {"actions", {"use"}},
                           {"mode", "pdp_outage"},
                           {"reason", "r"},
                           {"duration_seconds", 601u}})),  // past max_duration_seconds
            ErrorCode::InvalidRequest);
  EXPECT_EQ(service_.list().size(), 1u);
}

TEST_F(BreakGlassApiTest, AWindowIsNeverOpenUnaudited) {
  enrol("alice");
  enrol("bob");
  const std::string id = createRequest()["id"];
  ok(call(&BreakGlassApi::approve, adminSide("approver", "alice"), approval("alice", id), id));
  const json body = approval("bob", id);
  audit_.failing = true;
  EXPECT_EQ(code(call(&BreakGlassApi::approve, adminSide("approver", "bob"), body, id)), ErrorCode::AuditUnavailable);
  EXPECT_FALSE(service_.windowOpen(id, now_));
  EXPECT_EQ(service_.find(id)->endedBy, "audit-unavailable");
}

TEST_F(BreakGlassApiTest, CloseEndsTheWindowAndIsAudited) {
  enrol("alice");
  enrol("bob");
  const std::string id = createRequest("override")["id"];
  EXPECT_EQ(code(call(&BreakGlassApi::closeWindow, admin_, {}, id)), ErrorCode::BreakglassNotOpen);
  ok(call(&BreakGlassApi::approve, adminSide("approver", "alice"), approval("alice", id), id));
  ok(call(&BreakGlassApi::approve, adminSide("approver", "bob"), approval("bob", id), id));
  ASSERT_TRUE(service_.windowOpen(id, now_));
  const json closed = ok(call(&BreakGlassApi::closeWindow, admin_, {}, id)).body;
  EXPECT_EQ(closed["ended_by"], admin_.spiffeId);
  EXPECT_FALSE(service_.windowOpen(id, now_));
  ASSERT_EQ(eventsOfType("breakglass_closed").size(), 1u);
  EXPECT_EQ(eventsOfType("breakglass_closed")[0]["ended_by"], admin_.spiffeId);
  EXPECT_EQ(code(call(&BreakGlassApi::getRequest, admin_, {}, "0123")), ErrorCode::BreakglassRequestUnknown);
  EXPECT_EQ(ok(call(&BreakGlassApi::listRequests, adminSide("auditor", "a"))).body["requests"].size(), 1u);
}

TEST_F(BreakGlassApiTest, OnlyTheApproverItselfPostsItsDevice) {
  ok(call(&BreakGlassApi::createApprover, admin_, json{{"name", "alice"}, {"pcrs", {7, 0}}}));
  const json device = {{"ek_certificate", base64Std(text("cert-alice"))},
                       {"ek_public", base64Std(text("ek-alice"))},
                       {"ak_public", base64Std(text("ak-alice"))}};
  EXPECT_EQ(code(call(&BreakGlassApi::submitDevice, adminSide("approver", "bob"), device, "alice")),
            ErrorCode::Forbidden);
  EXPECT_EQ(code(call(&BreakGlassApi::submitDevice, adminSide("admin", "alice"), device, "alice")),
            ErrorCode::Forbidden);
  EXPECT_EQ(att_.makeCredentials, 0);
  // A device whose EK certificate does not chain is refused, and that is recorded.
  json untrusted = device;
  untrusted["ek_certificate"] = base64Std(text("self-signed"));
  EXPECT_EQ(code(call(&BreakGlassApi::submitDevice, adminSide("approver", "alice"), untrusted, "alice")),
            ErrorCode::EkUntrusted);
  EXPECT_EQ(eventsOfType("breakglass_approver").back()["outcome"], "device_refused");
  EXPECT_EQ(code(call(&BreakGlassApi::createApprover, admin_, json{{"name", "x"}, {"pcrs", {24}}})),
            ErrorCode::InvalidRequest);
  EXPECT_EQ(code(call(&BreakGlassApi::createApprover, admin_, json{{"name", "Bad Name"}})), ErrorCode::InvalidRequest);
  const json listed = ok(call(&BreakGlassApi::listApprovers, admin_)).body;
  ASSERT_EQ(listed["approvers"].size(), 1u);
  EXPECT_EQ(listed["approvers"][0]["pcrs"], json({0, 7}));
  EXPECT_EQ(listed["approvers"][0]["state"], "pending");
}

TEST_F(BreakGlassApiTest, AfterBootstrapApproversChangeOnlyThroughAQuorumApprovedRequest) {
  enrol("alice");
  enrol("bob");
  EXPECT_EQ(code(call(&BreakGlassApi::createApprover, admin_, json{{"name", "carol"}})),
            ErrorCode::EnrolmentNeedsQuorum);
  auto changeApproved = [&](const std::string& mode, const std::string& approver) {
    const json created = ok(call(&BreakGlassApi::createRequest, admin_,
                                 json{{"mode", mode},
                                      {"approver", approver},
                                      {"reason", "rotation of approvers"},
                                      {"duration_seconds", 300u}}))
                             .body;
    EXPECT_EQ(created["approver"], approver);
    EXPECT_FALSE(created.contains("tenant") && !created["tenant"].get<std::string>().empty());
    const std::string id = created["id"];
    ok(call(&BreakGlassApi::approve, adminSide("approver", "alice"), approval("alice", id), id));
    EXPECT_TRUE(ok(call(&BreakGlassApi::approve, adminSide("approver", "bob"), approval("bob", id), id))
                    .body["opened"]
                    .get<bool>());
    return id;
  };
  // A window for dave lets nobody else in, and lets no authorize item through.
  const std::string forDave = changeApproved("enrol_approver", "dave");
  EXPECT_EQ(code(call(&BreakGlassApi::createApprover, admin_, json{{"name", "carol"}})),
            ErrorCode::EnrolmentNeedsQuorum);
  EXPECT_FALSE(service_.windowFor("acme", "secret://acme/kv/payments/x", "use", false, now_));
  enrol("dave");
  EXPECT_FALSE(service_.windowOpen(forDave, now_));  // used once: closed on enrolment
  EXPECT_EQ(eventsOfType("breakglass_closed").back()["approver"], "dave");
  EXPECT_EQ(approvers_.enrolledCount(), 3u);

  // Removal: one of three needs the quorum too; the last one above the quorum never goes.
  EXPECT_EQ(code(call(&BreakGlassApi::removeApprover, admin_, {}, "dave")), ErrorCode::EnrolmentNeedsQuorum);
  changeApproved("remove_approver", "dave");
  ok(call(&BreakGlassApi::removeApprover, admin_, {}, "dave"));
  EXPECT_EQ(approvers_.enrolledCount(), 2u);
  changeApproved("remove_approver", "bob");
  EXPECT_EQ(code(call(&BreakGlassApi::removeApprover, admin_, {}, "bob")), ErrorCode::QuorumWouldBreak);
  EXPECT_EQ(approvers_.enrolledCount(), 2u);
}

TEST(BreakGlassRoutes, AnswerDisabledWhenNotConfigured) {
  std::vector<Route> routes;
  addBreakGlassRoutes(routes, nullptr);
  ASSERT_EQ(routes.size(), 10u);
  for (auto& route : routes) {
    HttpRequest r;
    const HandlerResult result = route.handler(r);
    const auto* err = std::get_if<HttpError>(&result);
    ASSERT_NE(err, nullptr) << route.path;
    EXPECT_EQ(err->code, ErrorCode::BreakglassDisabled);
    EXPECT_EQ(route.access, Access::Admin);
  }
}

}  // namespace
}  // namespace sealgate::appliance::breakglass
