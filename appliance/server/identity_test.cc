#include "appliance/server/identity.h"

#include <gtest/gtest.h>

#include "appliance/cli/pki.h"

namespace sealgate::appliance {
namespace {

TEST(Identity, ServiceAndAdminSpiffeIds) {
  auto s = parseSpiffeId("spiffe://acme/payments");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, IdentityKind::Service);
  EXPECT_EQ(s->tenant, "acme");
  EXPECT_EQ(s->service, "payments");
  auto a = parseSpiffeId("spiffe://sealgate-admin/auditor/alice");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, IdentityKind::Admin);
  EXPECT_EQ(a->role, "auditor");
  EXPECT_EQ(a->name, "alice");
}

TEST(Identity, RejectsMalformedIds) {
  for (const char* bad : {"", "https://acme/payments", "spiffe://acme", "spiffe://acme/", "spiffe://acme/a/b",
                          "spiffe://ACME/payments", "spiffe://-acme/payments", "spiffe://sealgate-admin/root/x",
                          "spiffe://sealgate-admin/admin", "spiffe://sealgate-admin/x", "spiffe://acme/pay ments",
                          "spiffe://acme/pay%2Fments", "spiffe://acme:443/payments", "spiffe://u@acme/payments"}) {
    auto r = parseSpiffeId(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::IdentityInvalid) << bad;
    }
  }
}

class CertIdentity : public ::testing::Test {
 protected:
  void SetUp() override {
    caKey_ = std::move(*generateP256Key());
    ca_ = std::move(*makeSelfSignedCa(caKey_.get(), "test CA", 1));
  }
  X509Ptr issue(const std::string& sans) {
    auto key = generateP256Key();
    auto cert = issueCertificate(ca_.get(), caKey_.get(), key->get(), "client", sans, false, 1);
    EXPECT_TRUE(cert.ok());
    return std::move(*cert);
  }
  EvpPkeyPtr caKey_;
  X509Ptr ca_;
};

TEST_F(CertIdentity, ExactlyOneSpiffeSanUri) {
  auto ok = identityFromCertificate(issue("URI:spiffe://acme/payments,DNS:payments.acme").get());
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_EQ(ok->spiffeId, "spiffe://acme/payments");
  EXPECT_EQ(ok->certThumbprint.size(), 43u);  // base64url of 32 bytes

  EXPECT_EQ(identityFromCertificate(issue("DNS:payments.acme").get()).error().code, ErrorCode::IdentityInvalid);
  EXPECT_EQ(identityFromCertificate(issue("URI:spiffe://acme/a,URI:spiffe://acme/b").get()).error().code,
            ErrorCode::IdentityInvalid);
  EXPECT_EQ(identityFromCertificate(issue("URI:spiffe://acme/a/b").get()).error().code, ErrorCode::IdentityInvalid);
  EXPECT_EQ(identityFromCertificate(nullptr).error().code, ErrorCode::Unauthenticated);
}

}  // namespace
}  // namespace sealgate::appliance
