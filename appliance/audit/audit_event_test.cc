// The common fields of audit events (audit_event.h) and the Actor of an HTTP
// request (audit_http.h): the fields and their bytes are docs/AUDIT.md's schema,
// so a change here is a change of the audit log's format.
#include "appliance/audit/audit_event.h"

#include <gtest/gtest.h>

#include "appliance/audit/audit_http.h"

namespace sealgate::appliance {
namespace {

using nlohmann::json;

class Sink : public AuditSink {
 public:
  bool failing = false;
  std::vector<std::string> lines;
  Result<std::uint64_t> append(const std::string& e) override {
    if (failing) return makeError(ErrorCode::AuditIo, "injected");
    lines.push_back(e);
    return lines.size() + 9;
  }
  bool healthy() const override { return !failing; }
};

Request serviceRequest() {
  Request r;
  r.correlationId = "corr-7";
  r.identity.kind = IdentityKind::Service;
  r.identity.spiffeId = "spiffe://acme/payments";
  r.identity.tenant = "acme";
  r.identity.service = "payments";
  r.identity.certThumbprint = "x5t-abc";
  return r;
}

TEST(AuditEvent, ActorOfARequestTakesItsCorrelationIdAndIdentity) {
  Request r = serviceRequest();
  r.identity.role = "admin";
  const Actor a = actorOf(r);
  EXPECT_EQ(a.correlationId, "corr-7");
  EXPECT_EQ(a.spiffeId, "spiffe://acme/payments");
  EXPECT_EQ(a.certThumbprint, "x5t-abc");
  EXPECT_EQ(a.tenant, "acme");
  EXPECT_EQ(a.role, "admin");
}

TEST(AuditEvent, ServiceAndAdminEventsHaveTheSchemasFieldsByteForByte) {
  EXPECT_EQ(auditEvent("consume", actorOf(serviceRequest())).dump(),
            R"({"action":"consume","actor":{"cert_thumbprint":"x5t-abc","spiffe_id":"spiffe://acme/payments"},)"
            R"("correlation_id":"corr-7","tenant":"acme","type":"consume"})");
  const Actor admin{"corr-8", "spiffe://sealgate-admin/admin/alice", "x5t-def", "", "admin"};
  EXPECT_EQ(auditEvent("grant_revoke", admin).dump(),
            R"({"action":"grant_revoke","actor":{"cert_thumbprint":"x5t-def","role":"admin",)"
            R"("spiffe_id":"spiffe://sealgate-admin/admin/alice"},"correlation_id":"corr-8","type":"grant_revoke"})");
}

TEST(AuditEvent, AppendAddsTheCommonFieldsLetsTheEventsOwnWinAndReturnsThePosition) {
  Sink sink;
  auto at = appendAuditEvent(sink, actorOf(serviceRequest()),
                             json{{"type", "kv_reveal"}, {"correlation_id", "mine"}, {"resource_ref", "rr1:v1:x"}});
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(*at, 10u);
  ASSERT_EQ(sink.lines.size(), 1u);
  const json e = json::parse(sink.lines[0]);
  EXPECT_EQ(e["type"], "kv_reveal");
  EXPECT_EQ(e["action"], "kv_reveal");
  EXPECT_EQ(e["correlation_id"], "mine");
  EXPECT_EQ(e["tenant"], "acme");
  EXPECT_EQ(e["resource_ref"], "rr1:v1:x");
}

TEST(AuditEvent, AFailedAppendIsTheSinksErrorAndHandlersAnswerAuditUnavailable) {
  Sink sink;
  sink.failing = true;
  auto at = appendAuditEvent(sink, Actor{}, json{{"type", "x"}});
  ASSERT_FALSE(at.ok());
  EXPECT_EQ(at.error().code, ErrorCode::AuditIo);
  EXPECT_TRUE(sink.lines.empty());
  const HttpError err = auditUnavailable();
  EXPECT_EQ(err.code, ErrorCode::AuditUnavailable);
  EXPECT_EQ(err.status, 503);
  EXPECT_EQ(err.message, "the audit log cannot record the request; nothing was done");
}

}  // namespace
}  // namespace sealgate::appliance
