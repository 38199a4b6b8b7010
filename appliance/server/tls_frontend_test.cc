// The CRL loader and the client trust store (issue 12, item 17): which CRL files
// are accepted, and that a reload takes effect only for a file that loads.
#include "appliance/server/tls_frontend.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "appliance/cli/pki.h"

namespace sealgate::appliance {
namespace {

namespace fs = std::filesystem;

struct Ca {
  EvpPkeyPtr key;
  X509Ptr cert;
};

Ca makeCa(const std::string& name) {
  auto key = generateP256Key();
  EXPECT_TRUE(key.ok());
  auto cert = makeSelfSignedCa(key->get(), name, 30);
  EXPECT_TRUE(cert.ok());
  return Ca{std::move(*key), std::move(*cert)};
}

// A CRL by `issuer` (its name) signed with `signer`, revoking `serials`, valid
// from now + fromDays to now + toDays.
std::string crlPem(X509* issuer, EVP_PKEY* signer, std::vector<const ASN1_INTEGER*> serials, long fromDays = -1,
                   long toDays = 1) {
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
  ASN1_TIME* from = X509_gmtime_adj(nullptr, fromDays * 86400);
  ASN1_TIME* to = X509_gmtime_adj(nullptr, toDays * 86400);
  X509_CRL_set1_lastUpdate(crl, from);
  X509_CRL_set1_nextUpdate(crl, to);
  for (const auto* serial : serials) {
    X509_REVOKED* r = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(r, const_cast<ASN1_INTEGER*>(serial));
    X509_REVOKED_set_revocationDate(r, from);
    X509_CRL_add0_revoked(crl, r);
  }
  X509_CRL_sort(crl);
  EXPECT_GT(X509_CRL_sign(crl, signer, EVP_sha256()), 0);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_CRL(bio, crl);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  ASN1_TIME_free(from);
  ASN1_TIME_free(to);
  X509_CRL_free(crl);
  return out;
}

class CrlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sealgate-crl-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    ca_ = makeCa("test CA");
    caFile_ = (dir_ / "ca.pem").string();
    crlFile_ = (dir_ / "crl.pem").string();
    ASSERT_TRUE(writeCertificatePem(caFile_, ca_.cert.get()).ok());
    auto key = generateP256Key();
    auto leaf =
        issueCertificate(ca_.cert.get(), ca_.key.get(), key->get(), "client", "URI:spiffe://acme/payments", false, 1);
    ASSERT_TRUE(leaf.ok());
    leaf_ = std::move(*leaf);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Replaces the CRL file (a new inode, as `mv` does).
  void write(const std::string& text) {
    const auto tmp = crlFile_ + ".tmp";
    std::ofstream(tmp, std::ios::binary) << text;
    fs::rename(tmp, crlFile_);
  }

  // Verifies the leaf against the trust store's current CRLs.
  long verifyLeaf(ClientTrust& trust) {
    std::uint64_t generation = 0;
    X509_STORE* store = trust.acquire(generation);
    EXPECT_NE(store, nullptr);
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, leaf_.get(), nullptr);
    const long result = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return result;
  }

  fs::path dir_;
  Ca ca_;
  X509Ptr leaf_;
  std::string caFile_, crlFile_;
};

TEST_F(CrlTest, AcceptsCrlsOfTheCaOnly) {
  write(crlPem(ca_.cert.get(), ca_.key.get(), {}));
  auto ok = loadCrls(crlFile_, caFile_);
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  ASSERT_EQ(ok->size(), 1u);
  for (auto* c : *ok) X509_CRL_free(c);

  Ca rogue = makeCa("test CA");  // the same name, another key: the signature decides
  Ca other = makeCa("other CA");
  const struct {
    std::string text;
    const char* why;
  } bad[] = {
      {"", "holds no CRL"},
      {"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "holds no CRL"},
      {crlPem(rogue.cert.get(), rogue.key.get(), {}), "not issued and signed"},
      {crlPem(other.cert.get(), other.key.get(), {}), "not issued and signed"},
      {crlPem(ca_.cert.get(), ca_.key.get(), {}, -3, -1), "nextUpdate"},
      {crlPem(ca_.cert.get(), ca_.key.get(), {}, 1, 3), "lastUpdate"},
      // A good CRL followed by a bad one: all of them must be good.
      {crlPem(ca_.cert.get(), ca_.key.get(), {}) + crlPem(other.cert.get(), other.key.get(), {}), "not issued"},
  };
  for (const auto& b : bad) {
    write(b.text);
    auto r = loadCrls(crlFile_, caFile_);
    ASSERT_FALSE(r.ok()) << b.why;
    EXPECT_EQ(r.error().code, ErrorCode::CrlInvalid);
    EXPECT_NE(r.error().message.find(b.why), std::string::npos) << r.error().message;
  }
  auto missing = loadCrls((dir_ / "none.pem").string(), caFile_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::CrlInvalid);
}

TEST_F(CrlTest, ReloadsOnChangeAndKeepsThePreviousCrlsWhenTheNewFileIsBad) {
  write(crlPem(ca_.cert.get(), ca_.key.get(), {}));
  auto trust = ClientTrust::create(caFile_, crlFile_, "pep");
  ASSERT_TRUE(trust.ok()) << trust.error().describe();
  ClientTrust& t = **trust;
  EXPECT_EQ(verifyLeaf(t), X509_V_OK);
  std::uint64_t g0 = 0;
  X509_STORE_free(t.acquire(g0));

  // Revoked: the next refresh picks it up and bumps the generation.
  write(crlPem(ca_.cert.get(), ca_.key.get(), {X509_get0_serialNumber(leaf_.get())}));
  t.refresh();
  std::uint64_t g1 = 0;
  X509_STORE_free(t.acquire(g1));
  EXPECT_EQ(g1, g0 + 1);
  EXPECT_EQ(verifyLeaf(t), X509_V_ERR_CERT_REVOKED);

  // A bad file does not replace it (never fail open), and does not bump the generation.
  Ca other = makeCa("other CA");
  for (const std::string& bad : {std::string("garbage"), crlPem(other.cert.get(), other.key.get(), {})}) {
    write(bad);
    t.refresh();
    std::uint64_t g = 0;
    X509_STORE_free(t.acquire(g));
    EXPECT_EQ(g, g1);
    EXPECT_EQ(verifyLeaf(t), X509_V_ERR_CERT_REVOKED);
  }
  // A missing file neither.
  fs::remove(crlFile_);
  t.refresh();
  EXPECT_EQ(verifyLeaf(t), X509_V_ERR_CERT_REVOKED);

  // Unchanged files are not reloaded; a good one is.
  write(crlPem(ca_.cert.get(), ca_.key.get(), {}));
  t.refresh();
  t.refresh();
  std::uint64_t g2 = 0;
  X509_STORE_free(t.acquire(g2));
  EXPECT_EQ(g2, g1 + 1);
  EXPECT_EQ(verifyLeaf(t), X509_V_OK);
}

TEST_F(CrlTest, AnIssuerWithoutACrlIsRefused) {
  // The CRL file covers another CA of the bundle only: the leaf's issuer has no CRL.
  Ca other = makeCa("other CA");
  {
    std::ofstream bundle(caFile_, std::ios::app);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, other.cert.get());
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    bundle << std::string(data, static_cast<std::size_t>(len));
    BIO_free(bio);
  }
  write(crlPem(other.cert.get(), other.key.get(), {}));
  auto trust = ClientTrust::create(caFile_, crlFile_, "pep");
  ASSERT_TRUE(trust.ok()) << trust.error().describe();
  EXPECT_EQ(verifyLeaf(**trust), X509_V_ERR_UNABLE_TO_GET_CRL);
}

TEST_F(CrlTest, NoCrlFileMeansNoStore) {
  auto trust = ClientTrust::create(caFile_, "", "pep");
  ASSERT_TRUE(trust.ok());
  EXPECT_FALSE((*trust)->enabled());
  std::uint64_t g = 0;
  EXPECT_EQ((*trust)->acquire(g), nullptr);
  auto bad = ClientTrust::create(caFile_, (dir_ / "missing.pem").string(), "pep");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::CrlInvalid);
}

}  // namespace
}  // namespace sealgate::appliance
