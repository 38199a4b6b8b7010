// The operator CLI's admin-listener client and certificate identity: the
// server is verified against --ca only (a real HTTPS peer with another CA is
// refused), the API's errors come back with their codes, and an unusable URL,
// file or certificate is refused before anything is sent.
#include "appliance/cli/admin_client.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "appliance/cli/pki.h"
#include "tests/support/https_peer.h"
#include "tests/support/temp_dir.h"

namespace sealgate::appliance {
namespace {

namespace fs = std::filesystem;

class AdminClientTest : public ::testing::Test {
 protected:
  AdminClientTest() : dir_(testing::makeTempDir("sealgate-admin-client")) {
    fs::create_directories(dir_ + "/pki");
    fs::create_directories(dir_ + "/other");
    EXPECT_TRUE(testing::writeTestPki(dir_ + "/pki"));
    EXPECT_TRUE(testing::writeTestPki(dir_ + "/other", "another CA"));
    peer_ = testing::HttpsPeer::start(dir_ + "/pki/server.pem", dir_ + "/pki/server.key");
  }
  ~AdminClientTest() override {
    peer_.reset();
    fs::remove_all(dir_);
  }

  AdminTls tls(const std::string& caDir = "pki") const {
    return AdminTls{"https://127.0.0.1:" + std::to_string(peer_->port()), dir_ + "/pki/server.pem",
                    dir_ + "/pki/server.key", dir_ + "/" + caDir + "/ca.pem"};
  }

  std::string dir_;
  std::unique_ptr<testing::HttpsPeer> peer_;
};

TEST_F(AdminClientTest, TalksToAServerItsCaVouchesFor) {
  ASSERT_TRUE(peer_);
  auto client = AdminClient::create(tls());
  ASSERT_TRUE(client) << client.error().describe();
  auto echoed = client->post("/echo", nlohmann::json{{"hello", "world"}});
  ASSERT_TRUE(echoed) << echoed.error().describe();
  EXPECT_EQ(echoed->value("method", ""), "POST");
  auto got = client->get("/echo");
  ASSERT_TRUE(got) << got.error().describe();
  EXPECT_EQ(got->value("method", ""), "GET");
}

TEST_F(AdminClientTest, RefusesAServerOfAnotherCa) {
  ASSERT_TRUE(peer_);
  auto client = AdminClient::create(tls("other"));
  ASSERT_TRUE(client) << client.error().describe();
  auto refused = client->get("/echo");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::AdminClient) << refused.error().describe();
  EXPECT_EQ(peer_->requests(), 0u);
}

// A certificate from the right CA, but for another name than the URL's host.
TEST_F(AdminClientTest, RefusesAServerCertificateForAnotherName) {
  auto caKey = generateP256Key();
  ASSERT_TRUE(caKey);
  auto ca = makeSelfSignedCa(caKey->get(), "elsewhere CA", 1);
  ASSERT_TRUE(ca);
  ASSERT_TRUE(writeCertificatePem(dir_ + "/elsewhere-ca.pem", ca->get()));
  auto key = generateP256Key();
  ASSERT_TRUE(key);
  auto cert = issueCertificate(ca->get(), caKey->get(), key->get(), "elsewhere", "DNS:elsewhere.invalid", true, 1);
  ASSERT_TRUE(cert);
  ASSERT_TRUE(writeCertificatePem(dir_ + "/elsewhere.pem", cert->get()));
  ASSERT_TRUE(writePrivateKeyPem(dir_ + "/elsewhere.key", key->get()));
  auto elsewhere = testing::HttpsPeer::start(dir_ + "/elsewhere.pem", dir_ + "/elsewhere.key");
  ASSERT_TRUE(elsewhere);
  AdminTls t = tls();
  t.url = "https://127.0.0.1:" + std::to_string(elsewhere->port());
  t.caFile = dir_ + "/elsewhere-ca.pem";
  auto client = AdminClient::create(t);
  ASSERT_TRUE(client);
  auto refused = client->get("/echo");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::AdminClient) << refused.error().describe();
  EXPECT_EQ(elsewhere->requests(), 0u);
}

TEST_F(AdminClientTest, NonJsonAndErrorStatusesAreErrors) {
  ASSERT_TRUE(peer_);
  auto client = AdminClient::create(tls());
  ASSERT_TRUE(client);
  auto notJson = client->get("/ok");
  ASSERT_FALSE(notJson);
  EXPECT_EQ(notJson.error().code, ErrorCode::AdminClient);
  auto status = client->get("/status?code=409");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, ErrorCode::AdminClient);
  EXPECT_NE(status.error().message.find("HTTP 409"), std::string::npos);
}

TEST_F(AdminClientTest, UnusableSettingsAreRefusedUpFront) {
  ASSERT_TRUE(peer_);
  for (const std::string url : {"http://127.0.0.1:9443", "https://127.0.0.1:9443/admin", "https://127.0.0.1:9443?x=1",
                                "https://user@127.0.0.1:9443", "127.0.0.1:9443", "", "https://"}) {
    SCOPED_TRACE(url);
    AdminTls t = tls();
    t.url = url;
    auto client = AdminClient::create(t);
    ASSERT_FALSE(client);
    EXPECT_EQ(client.error().code, ErrorCode::AdminClient);
  }
  for (int which = 0; which < 3; ++which) {
    AdminTls t = tls();
    (which == 0 ? t.certFile : which == 1 ? t.keyFile : t.caFile) = dir_ + "/missing.pem";
    auto client = AdminClient::create(t);
    ASSERT_FALSE(client);
    EXPECT_EQ(client.error().code, ErrorCode::AdminClient);
  }
  AdminTls mismatched = tls();
  mismatched.keyFile = dir_ + "/other/server.key";  // not the certificate's key
  EXPECT_FALSE(AdminClient::create(mismatched));
}

TEST(AdminClientAnswerTest, ApiErrorsKeepTheirCode) {
  const Error e = AdminClient::answerError(
      403, R"({"error":{"code":"APPROVAL_SELF","message":"the requester cannot approve","correlation_id":"c-1"}})");
  EXPECT_EQ(e.code, ErrorCode::ApprovalSelf);
  EXPECT_NE(e.message.find("the requester cannot approve"), std::string::npos);
  EXPECT_NE(e.message.find("HTTP 403"), std::string::npos);
  EXPECT_NE(e.message.find("c-1"), std::string::npos);
  EXPECT_EQ(AdminClient::answerError(409, R"({"error":{"code":"APPROVAL_DUPLICATE","message":"x"}})").code,
            ErrorCode::ApprovalDuplicate);
  // Not an API error: an unknown or internal code, no error object, not JSON.
  for (const char* body :
       {R"({"error":{"code":"NO_SUCH_CODE","message":"x"}})", R"({"error":{"code":"HSM_PIN","message":"x"}})",
        R"({"error":"APPROVAL_SELF"})", "[]", "<html>", ""}) {
    SCOPED_TRACE(body);
    EXPECT_EQ(AdminClient::answerError(500, body).code, ErrorCode::AdminClient);
  }
}

// The identity the CLI takes its approver name from.
class AdminIdentityTest : public ::testing::Test {
 protected:
  AdminIdentityTest() : dir_(testing::makeTempDir("sealgate-admin-identity")) {
    caKey_ = std::move(*generateP256Key());
    ca_ = std::move(*makeSelfSignedCa(caKey_.get(), "test CA", 1));
  }
  ~AdminIdentityTest() override { fs::remove_all(dir_); }

  std::string certWith(const std::string& sans) {
    auto key = generateP256Key();
    auto cert = issueCertificate(ca_.get(), caKey_.get(), key->get(), "client", sans, false, 1);
    EXPECT_TRUE(cert);
    const std::string path = dir_ + "/" + std::to_string(n_++) + ".pem";
    EXPECT_TRUE(writeCertificatePem(path, cert->get()));
    return path;
  }

  std::string dir_;
  int n_ = 0;
  EvpPkeyPtr caKey_;
  X509Ptr ca_;
};

TEST_F(AdminIdentityTest, ReadsRoleAndName) {
  auto id = adminIdentityOfCertificate(certWith("URI:spiffe://sealgate-admin/approver/approver-1,DNS:example.com"));
  ASSERT_TRUE(id) << id.error().describe();
  EXPECT_EQ(id->spiffeId, "spiffe://sealgate-admin/approver/approver-1");
  EXPECT_EQ(id->role, "approver");
  EXPECT_EQ(id->name, "approver-1");
}

TEST_F(AdminIdentityTest, RefusesWhatIsNoAdminIdentity) {
  for (const std::string sans :
       {"URI:spiffe://acme/payments", "URI:spiffe://sealgate-admin/approver", "URI:spiffe://sealgate-admin/approver/",
        "URI:spiffe://sealgate-admin//x", "URI:spiffe://sealgate-admin/approver/a/b", "DNS:localhost",
        "URI:spiffe://sealgate-admin/approver/a,URI:spiffe://sealgate-admin/approver/b",
        "URI:https://sealgate-admin/approver/a"}) {
    SCOPED_TRACE(sans);
    auto id = adminIdentityOfCertificate(certWith(sans));
    ASSERT_FALSE(id);
    EXPECT_EQ(id.error().code, ErrorCode::PkiError);
  }
  EXPECT_FALSE(adminIdentityOfCertificate(dir_ + "/missing.pem"));
}

}  // namespace
}  // namespace sealgate::appliance
