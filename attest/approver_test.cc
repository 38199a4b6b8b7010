// Break-glass approver attestation end to end: attest::ApproverDevice against real
// software TPMs manufactured with EK certificates by a per-test local CA
// (tests/support/swtpm.h), checked by the software verifier
// (attest/approver_verifier.h).
#include "attest/approver_device.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <thread>

#include "attest/approver_verifier.h"
#include "attest/tpm.h"
#include "core/openssl_ptr.h"
#include "tests/support/swtpm.h"
#include "tests/support/temp_dir.h"

namespace sealgate::attest {
namespace {

namespace fs = std::filesystem;

Bytes randomBytes(std::size_t n) {
  Bytes b(n);
  if (RAND_bytes(b.data(), static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes");
  return b;
}

Secret randomSecret(std::size_t n) {
  Bytes b = randomBytes(n);
  auto s = Secret::copyFrom(b);
  secureWipe(b.data(), b.size());
  return std::move(*s);
}

// Manufactured TPM states, made once per test process and copied for each
// test (manufacturing takes about a second; a copy of the state is the same
// TPM, fresh). "a" and "b" share the vendor CA `ca`; "c" has its own CA.
class Factory {
 public:
  static Factory& get() {
    static Factory f;
    return f;
  }
  ~Factory() { fs::remove_all(root_); }
  // The CAs, with their certificates (made by their first manufacture).
  testing::SwtpmLocalCa& ca() {
    golden("a");
    return ca_;
  }
  testing::SwtpmLocalCa& otherCa() {
    golden("c");
    return otherCa_;
  }
  std::string golden(const std::string& which) {
    auto it = golden_.find(which);
    if (it != golden_.end()) return it->second;
    const std::string dir = root_ + "/golden-" + which;
    (which == "c" ? otherCa_ : ca_).manufacture(dir);
    golden_[which] = dir;
    return dir;
  }
  std::string root() const { return root_; }

 private:
  Factory() : root_(testing::makeTempDir("sealgate-approver")), ca_(root_ + "/ca"), otherCa_(root_ + "/other-ca") {}
  std::string root_;
  testing::SwtpmLocalCa ca_;
  testing::SwtpmLocalCa otherCa_;
  std::map<std::string, std::string> golden_;
};

// One running approver TPM: a copy of a manufactured state, swtpm on it, and an
// ApproverDevice connected to it.
class RunningTpm {
 public:
  explicit RunningTpm(const std::string& which) {
    dir_ = testing::makeTempDir("sealgate-approver-tpm");
    fs::copy(Factory::get().golden(which), dir_, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    start();
  }
  ~RunningTpm() {
    stop();
    fs::remove_all(dir_);
  }
  ApproverDevice& device() { return *device_; }
  // swtpm stopped and started on the same state: a TPM reset (startup-clear).
  void restart() {
    stop();
    start();
  }
  // Extends a PCR through attest::Tpm: swtpm serves one connection at a time,
  // so the device's is closed meanwhile.
  void extendPcr(unsigned pcr, std::string_view data) {
    device_.reset();
    {
      auto tpm = Tpm::open(swtpm_->tcti());
      ASSERT_TRUE(tpm) << tpm.error().describe();
      ASSERT_TRUE((*tpm)->extendPcr(pcr, data));
    }
    openDevice();
  }

 private:
  void start() {
    swtpm_ = std::make_unique<testing::Swtpm>(dir_);
    openDevice();
  }
  void openDevice() {
    auto dev = ApproverDevice::open(swtpm_->tcti());
    if (!dev) throw std::runtime_error(dev.error().describe());
    device_ = std::move(*dev);
  }
  void stop() {
    device_.reset();
    swtpm_.reset();
  }
  std::string dir_;
  std::unique_ptr<testing::Swtpm> swtpm_;
  std::unique_ptr<ApproverDevice> device_;
};

// An enrolled approver: the EK and AK as the verifier parsed them.
struct Enrolled {
  EkPublic ek;
  AkPublic ak;
  AkInfo akInfo;
};

Enrolled enrol(ApproverDevice& dev, std::uint32_t akHandle = kDefaultAkHandle) {
  Enrolled e;
  auto ekPub = dev.ekPublic();
  EXPECT_TRUE(ekPub) << ekPub.error().describe();
  auto ek = parseEkPublic(*ekPub);
  EXPECT_TRUE(ek) << ek.error().describe();
  auto info = dev.createAk(akHandle);
  EXPECT_TRUE(info) << info.error().describe();
  auto ak = parseAkPublic(info->publicArea);
  EXPECT_TRUE(ak) << ak.error().describe();
  e.ek = std::move(*ek);
  e.ak = std::move(*ak);
  e.akInfo = std::move(*info);
  return e;
}

TEST(ApproverEnrolment, RoundTripWithEkCertificateAndActivateCredential) {
  RunningTpm a("a");
  ApproverDevice& dev = a.device();
  auto cert = dev.ekCertificate();
  ASSERT_TRUE(cert) << cert.error().describe();
  EXPECT_GT(cert->size(), 500u);
  auto ekPub = dev.ekPublic();
  ASSERT_TRUE(ekPub) << ekPub.error().describe();
  auto ek = parseEkPublic(*ekPub);
  ASSERT_TRUE(ek) << ek.error().describe();
  EXPECT_TRUE(ek->rsa);
  auto chained = verifyEkCertificate(*cert, *ek, Factory::get().ca().bundlePath());
  ASSERT_TRUE(chained) << chained.error().describe();

  auto info = dev.createAk();
  ASSERT_TRUE(info) << info.error().describe();
  EXPECT_EQ(info->handle, kDefaultAkHandle);
  auto ak = parseAkPublic(info->publicArea);
  ASSERT_TRUE(ak) << ak.error().describe();
  // The verifier computes the name the TPM reports.
  EXPECT_EQ(ak->name, info->name);
  EXPECT_EQ(ak->fingerprint.size(), 64u);

  Secret issued = randomSecret(32);
  auto cred = makeCredential(*ek, ak->name, issued);
  ASSERT_TRUE(cred) << cred.error().describe();
  auto returned = dev.activateCredential(cred->credentialBlob, cred->encryptedSecret);
  ASSERT_TRUE(returned) << returned.error().describe();
  EXPECT_TRUE(returned->equals(issued));
  EXPECT_TRUE(checkActivatedSecret(issued, *returned));
  // The same credential works once per call (it is not bound to a session),
  // and another secret is a mismatch.
  EXPECT_EQ(checkActivatedSecret(randomSecret(32), *returned).error().code, ErrorCode::CredentialMismatch);
}

TEST(ApproverEnrolment, ShortSecretAndPemCertificate) {
  RunningTpm a("a");
  Enrolled e = enrol(a.device());
  Secret issued = randomSecret(1);
  auto cred = makeCredential(e.ek, e.ak.name, issued);
  ASSERT_TRUE(cred) << cred.error().describe();
  auto returned = a.device().activateCredential(cred->credentialBlob, cred->encryptedSecret);
  ASSERT_TRUE(returned) << returned.error().describe();
  EXPECT_TRUE(returned->equals(issued));

  auto cert = a.device().ekCertificate();
  ASSERT_TRUE(cert);
  const unsigned char* p = cert->data();
  X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(cert->size())));
  ASSERT_TRUE(x);
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_X509(bio.get(), x.get()), 1);
  char* pem = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &pem);
  const Bytes pemBytes(pem, pem + len);
  EXPECT_TRUE(verifyEkCertificate(pemBytes, e.ek, Factory::get().ca().bundlePath()));
}

TEST(ApproverEnrolment, EccEkCertificateChainsButGetsNoCredential) {
  RunningTpm a("a");
  auto cert = a.device().ekCertificate(EkKind::Ecc);
  ASSERT_TRUE(cert) << cert.error().describe();
  auto ekPub = a.device().ekPublic(EkKind::Ecc);
  ASSERT_TRUE(ekPub) << ekPub.error().describe();
  auto ek = parseEkPublic(*ekPub);
  ASSERT_TRUE(ek) << ek.error().describe();
  EXPECT_FALSE(ek->rsa);
  EXPECT_TRUE(verifyEkCertificate(*cert, *ek, Factory::get().ca().bundlePath()));
  // The RSA EK's certificate is not the ECC EK's.
  auto rsaCert = a.device().ekCertificate();
  ASSERT_TRUE(rsaCert);
  EXPECT_EQ(verifyEkCertificate(*rsaCert, *ek, Factory::get().ca().bundlePath()).error().code, ErrorCode::EkMismatch);
  auto cred = makeCredential(*ek, Bytes(kSha256NameSize, 0), randomSecret(32));
  ASSERT_FALSE(cred);
  EXPECT_EQ(cred.error().code, ErrorCode::EkUntrusted);
}

TEST(ApproverEnrolment, EkCertificateFromAnotherVendorCaIsUntrusted) {
  RunningTpm c("c");
  auto cert = c.device().ekCertificate();
  auto ekPub = c.device().ekPublic();
  ASSERT_TRUE(cert && ekPub);
  auto ek = parseEkPublic(*ekPub);
  ASSERT_TRUE(ek);
  // Its own CA vouches for it; the configured vendor CA does not.
  EXPECT_TRUE(verifyEkCertificate(*cert, *ek, Factory::get().otherCa().bundlePath()));
  auto refused = verifyEkCertificate(*cert, *ek, Factory::get().ca().bundlePath());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::EkUntrusted) << refused.error().describe();
}

TEST(ApproverEnrolment, IssuingCaAloneIsNotATrustAnchor) {
  RunningTpm a("a");
  auto cert = a.device().ekCertificate();
  auto ek = parseEkPublic(*a.device().ekPublic());
  ASSERT_TRUE(cert && ek);
  // No partial chains: the bundle must reach the self-signed root.
  auto refused = verifyEkCertificate(*cert, *ek, Factory::get().ca().issuerCertPath());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::EkUntrusted);
  auto rootOnly = verifyEkCertificate(*cert, *ek, Factory::get().ca().rootCertPath());
  ASSERT_FALSE(rootOnly);
  EXPECT_EQ(rootOnly.error().code, ErrorCode::EkUntrusted);
  // An unreadable bundle is the caller's configuration, not the device's fault.
  EXPECT_EQ(verifyEkCertificate(*cert, *ek, "/nonexistent/bundle.pem").error().code, ErrorCode::TpmBadInput);
}

TEST(ApproverEnrolment, GenuineCertificateWithAnotherTpmsEkIsRefused) {
  Bytes certA;
  {
    RunningTpm a("a");
    auto cert = a.device().ekCertificate();
    ASSERT_TRUE(cert);
    certA = *cert;
  }
  RunningTpm b("b");
  auto ekB = parseEkPublic(*b.device().ekPublic());
  ASSERT_TRUE(ekB);
  // B's own certificate is fine; A's genuine one with B's EK is not.
  EXPECT_TRUE(verifyEkCertificate(*b.device().ekCertificate(), *ekB, Factory::get().ca().bundlePath()));
  auto refused = verifyEkCertificate(certA, *ekB, Factory::get().ca().bundlePath());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::EkMismatch) << refused.error().describe();
}

TEST(ApproverEnrolment, CorruptOrForeignCertificateIsUntrusted) {
  RunningTpm a("a");
  auto cert = a.device().ekCertificate();
  auto ek = parseEkPublic(*a.device().ekPublic());
  ASSERT_TRUE(cert && ek);
  const std::string bundle = Factory::get().ca().bundlePath();
  Bytes flipped = *cert;
  flipped[flipped.size() - 10] ^= 0x01;  // in the signature
  EXPECT_EQ(verifyEkCertificate(flipped, *ek, bundle).error().code, ErrorCode::EkUntrusted);
  Bytes trailing = *cert;
  trailing.push_back(0);
  EXPECT_EQ(verifyEkCertificate(trailing, *ek, bundle).error().code, ErrorCode::EkUntrusted);
  EXPECT_EQ(verifyEkCertificate(Bytes{}, *ek, bundle).error().code, ErrorCode::EkUntrusted);
  EXPECT_EQ(verifyEkCertificate(Bytes(cert->begin(), cert->begin() + 100), *ek, bundle).error().code,
            ErrorCode::EkUntrusted);
  // The issuing CA's own certificate is not an EK certificate of this EK.
  std::ifstream in(Factory::get().ca().issuerCertPath(), std::ios::binary);
  const std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(verifyEkCertificate(Bytes(pem.begin(), pem.end()), *ek, bundle).error().code, ErrorCode::EkMismatch);
}

TEST(ApproverEnrolment, AkPersistsAndItsHandleIsGuarded) {
  RunningTpm a("a");
  auto created = a.device().createAk();
  ASSERT_TRUE(created) << created.error().describe();
  a.restart();
  auto read = a.device().readAk();
  ASSERT_TRUE(read) << read.error().describe();
  EXPECT_EQ(read->publicArea, created->publicArea);
  EXPECT_EQ(read->name, created->name);
  auto again = a.device().createAk();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::TpmBadInput);
  EXPECT_EQ(a.device().createAk(0x01500020).error().code, ErrorCode::TpmBadInput);
  ASSERT_TRUE(a.device().evictAk());
  auto gone = a.device().readAk();
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::TpmKeyMissing);
  EXPECT_EQ(a.device().quote(randomBytes(32)).error().code, ErrorCode::TpmKeyMissing);
  // A new AK at the same handle is a new key.
  auto fresh = a.device().createAk();
  ASSERT_TRUE(fresh);
  EXPECT_NE(fresh->name, created->name);
}

TEST(ApproverEnrolment, NonRestrictedOrWrongKeysAreRejectedAsAk) {
  RunningTpm a("a");
  auto info = a.device().createAk();
  ASSERT_TRUE(info);
  ASSERT_TRUE(parseAkPublic(info->publicArea));
  // TPM2B_PUBLIC: size(2) type(2) nameAlg(2) objectAttributes(4, big-endian).
  struct Tamper {
    const char* what;
    std::size_t at;
    std::uint8_t xorMask;
  };
  const Tamper tampers[] = {
      {"RESTRICTED cleared", 7, 0x01},           // 0x00010000
      {"DECRYPT set", 7, 0x02},                  // 0x00020000
      {"SIGN_ENCRYPT cleared", 7, 0x04},         // 0x00040000
      {"FIXEDTPM cleared", 9, 0x02},             // 0x00000002
      {"FIXEDPARENT cleared", 9, 0x10},          // 0x00000010
      {"SENSITIVEDATAORIGIN cleared", 9, 0x20},  // 0x00000020
      {"nameAlg SHA-1", 5, 0x0b ^ 0x04},
  };
  for (const auto& t : tampers) {
    SCOPED_TRACE(t.what);
    Bytes pub = info->publicArea;
    pub[t.at] ^= t.xorMask;
    auto refused = parseAkPublic(pub);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::AkRejected) << refused.error().describe();
  }
  // The EK (a restricted decryption key) is no AK; nor are cut or padded bytes.
  auto ekPub = a.device().ekPublic();
  ASSERT_TRUE(ekPub);
  EXPECT_EQ(parseAkPublic(*ekPub).error().code, ErrorCode::AkRejected);
  Bytes trailing = info->publicArea;
  trailing.push_back(0);
  EXPECT_EQ(parseAkPublic(trailing).error().code, ErrorCode::AkRejected);
  EXPECT_EQ(parseAkPublic(Bytes(info->publicArea.begin(), info->publicArea.end() - 1)).error().code,
            ErrorCode::AkRejected);
  EXPECT_EQ(parseAkPublic(Bytes{}).error().code, ErrorCode::AkRejected);
  // An AK public area is no EK either.
  EXPECT_EQ(parseEkPublic(info->publicArea).error().code, ErrorCode::EkUntrusted);
}

TEST(ApproverEnrolment, CredentialForAnotherTpmDoesNotActivate) {
  RunningTpm a("a");
  RunningTpm b("b");
  Enrolled ea = enrol(a.device());
  Enrolled eb = enrol(b.device());
  Secret issued = randomSecret(32);
  auto cred = makeCredential(ea.ek, ea.ak.name, issued);
  ASSERT_TRUE(cred);
  auto refused = b.device().activateCredential(cred->credentialBlob, cred->encryptedSecret);
  ASSERT_FALSE(refused);
  // The seed does not decrypt with B's EK: a TPM answers TPM_RC_VALUE
  // (TPM_BLOB_REJECTED); swtpm answers TPM_RC_FAILURE (TPM_ERROR) and keeps
  // working (docs/DEVELOPMENT.md, "swtpm with EK certificates").
  EXPECT_TRUE(refused.error().code == ErrorCode::TpmBlobRejected || refused.error().code == ErrorCode::TpmError)
      << refused.error().describe();
  EXPECT_EQ(refused.error().operation, "Esys_ActivateCredential");
  // Nor does a credential naming B's AK encrypted to A's EK (the AK is not in A).
  auto crossed = makeCredential(ea.ek, eb.ak.name, issued);
  ASSERT_TRUE(crossed);
  EXPECT_FALSE(b.device().activateCredential(crossed->credentialBlob, crossed->encryptedSecret));
  EXPECT_FALSE(a.device().activateCredential(crossed->credentialBlob, crossed->encryptedSecret));
  // Each still activates its own.
  auto ok = a.device().activateCredential(cred->credentialBlob, cred->encryptedSecret);
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_TRUE(ok->equals(issued));
  auto credB = makeCredential(eb.ek, eb.ak.name, issued);
  ASSERT_TRUE(credB);
  auto okB = b.device().activateCredential(credB->credentialBlob, credB->encryptedSecret);
  ASSERT_TRUE(okB) << okB.error().describe();
  EXPECT_TRUE(okB->equals(issued));
}

TEST(ApproverEnrolment, CredentialForAnotherAkNameDoesNotActivate) {
  RunningTpm a("a");
  Enrolled first = enrol(a.device());
  Enrolled second = enrol(a.device(), kDefaultAkHandle + 1);
  ASSERT_NE(first.ak.name, second.ak.name);
  Secret issued = randomSecret(32);
  auto cred = makeCredential(first.ek, second.ak.name, issued);
  ASSERT_TRUE(cred);
  auto refused = a.device().activateCredential(cred->credentialBlob, cred->encryptedSecret, kDefaultAkHandle);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::TpmBlobRejected) << refused.error().describe();
  auto ok = a.device().activateCredential(cred->credentialBlob, cred->encryptedSecret, kDefaultAkHandle + 1);
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_TRUE(ok->equals(issued));
  // Tampered blobs: the outer HMAC catches them.
  Bytes blob = cred->credentialBlob;
  blob.back() ^= 0x01;
  EXPECT_EQ(a.device().activateCredential(blob, cred->encryptedSecret, kDefaultAkHandle + 1).error().code,
            ErrorCode::TpmBlobRejected);
  EXPECT_EQ(a.device().activateCredential(Bytes{0x00}, cred->encryptedSecret).error().code, ErrorCode::TpmBlobRejected);
}

TEST(ApproverEnrolment, MakeCredentialRefusesBadInput) {
  RunningTpm a("a");
  Enrolled e = enrol(a.device());
  EXPECT_EQ(makeCredential(e.ek, e.ak.name, Secret{}).error().code, ErrorCode::TpmBadInput);
  EXPECT_EQ(makeCredential(e.ek, e.ak.name, randomSecret(33)).error().code, ErrorCode::TpmBadInput);
  EXPECT_EQ(makeCredential(e.ek, Bytes(e.ak.name.begin(), e.ak.name.end() - 1), randomSecret(32)).error().code,
            ErrorCode::TpmBadInput);
}

// Quotes.

class ApproverQuote : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = std::make_unique<RunningTpm>("a");
    enrolled_ = enrol(a_->device());
    golden_ = goldenDigest(kDefaultQuotePcrs);
  }
  Bytes goldenDigest(const std::vector<unsigned>& pcrs) {
    auto values = a_->device().readPcrs(pcrs);
    EXPECT_TRUE(values) << values.error().describe();
    EXPECT_EQ(values->size(), pcrs.size());
    return pcrCompositeDigest(*values);
  }
  QuoteExpectation expect(const Bytes& nonce) const { return {nonce, kDefaultQuotePcrs, golden_}; }
  std::unique_ptr<RunningTpm> a_;
  Enrolled enrolled_;
  Bytes golden_;
};

TEST_F(ApproverQuote, GoodQuoteVerifies) {
  const Bytes nonce = randomBytes(32);
  auto q = a_->device().quote(nonce);
  ASSERT_TRUE(q) << q.error().describe();
  auto v = verifyQuote(enrolled_.ak, q->attest, q->signature, expect(nonce));
  ASSERT_TRUE(v) << v.error().describe();
  EXPECT_EQ(v->extraData, nonce);
  EXPECT_EQ(v->pcrs, kDefaultQuotePcrs);
  EXPECT_EQ(v->pcrDigest, golden_);
  EXPECT_TRUE(v->clock.safe);
  EXPECT_GT(v->firmwareVersion, 0u);
  // The seeds of tests/fuzz/corpus/approval_quote and the key in
  // tests/fuzz/approval_quote_key.h came from here.
  if (const char* out = std::getenv("SEALGATE_WRITE_QUOTE_SEED")) {
    std::ofstream f(out, std::ios::binary);
    f << hexLower(enrolled_.ak.marshalled) << "\n"
      << hexLower(nonce) << "\n"
      << hexLower(golden_) << "\n"
      << hexLower(q->attest) << "\n"
      << hexLower(q->signature) << "\n";
  }
}

TEST_F(ApproverQuote, SelectionWiderThanEightPcrsReadsInSeveralCalls) {
  std::vector<unsigned> all;
  for (unsigned p = 0; p < 24; ++p) all.push_back(p);
  const Bytes digest = goldenDigest(all);
  const Bytes nonce = randomBytes(32);
  auto q = a_->device().quote(nonce, all);
  ASSERT_TRUE(q) << q.error().describe();
  auto v = verifyQuote(enrolled_.ak, q->attest, q->signature, {nonce, all, digest});
  ASSERT_TRUE(v) << v.error().describe();
  EXPECT_EQ(v->pcrs, all);
}

TEST_F(ApproverQuote, OtherQualifyingDataIsNonceMismatch) {
  const Bytes nonce = randomBytes(32);
  auto q = a_->device().quote(nonce);
  ASSERT_TRUE(q);
  Bytes other = nonce;
  other[0] ^= 0x01;
  auto refused = verifyQuote(enrolled_.ak, q->attest, q->signature, expect(other));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::QuoteNonceMismatch);
  EXPECT_EQ(
      verifyQuote(enrolled_.ak, q->attest, q->signature, expect(Bytes(nonce.begin(), nonce.end() - 1))).error().code,
      ErrorCode::QuoteNonceMismatch);
}

TEST_F(ApproverQuote, ExtendedPcrIsPcrMismatch) {
  a_->extendPcr(16, "an unexpected boot component");
  const Bytes nonce = randomBytes(32);
  auto q = a_->device().quote(nonce);
  ASSERT_TRUE(q);
  auto refused = verifyQuote(enrolled_.ak, q->attest, q->signature, expect(nonce));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::QuotePcrMismatch) << refused.error().describe();
  // The quote itself is genuine: it verifies against the new values.
  EXPECT_TRUE(
      verifyQuote(enrolled_.ak, q->attest, q->signature, {nonce, kDefaultQuotePcrs, goldenDigest(kDefaultQuotePcrs)}));
  EXPECT_NE(goldenDigest(kDefaultQuotePcrs), golden_);
}

TEST_F(ApproverQuote, OtherSelectionIsPcrMismatch) {
  const Bytes nonce = randomBytes(32);
  const std::vector<unsigned> fewer = {0, 1, 2, 3, 7};
  auto q = a_->device().quote(nonce, fewer);
  ASSERT_TRUE(q);
  // The quote's digest over fewer PCRs is checked against the enrolled selection.
  auto refused = verifyQuote(enrolled_.ak, q->attest, q->signature, {nonce, kDefaultQuotePcrs, goldenDigest(fewer)});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::QuotePcrMismatch);
  EXPECT_TRUE(verifyQuote(enrolled_.ak, q->attest, q->signature, {nonce, fewer, goldenDigest(fewer)}));
}

TEST_F(ApproverQuote, TamperedAttestOrSignatureIsSignatureInvalid) {
  const Bytes nonce = randomBytes(32);
  auto q = a_->device().quote(nonce);
  ASSERT_TRUE(q);
  // Bytes inside fields whose change keeps the structure parseable: the
  // qualifying data, the clock, the PCR digest.
  for (std::size_t at : {std::size_t{4 + 2 + 36 + 2 + 5}, std::size_t{4 + 2 + 36 + 34 + 3}, q->attest.size() - 1}) {
    SCOPED_TRACE(at);
    Bytes attest = q->attest;
    attest[at] ^= 0x01;
    auto refused = verifyQuote(enrolled_.ak, attest, q->signature, expect(nonce));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::QuoteSignatureInvalid) << refused.error().describe();
  }
  Bytes sig = q->signature;
  sig.back() ^= 0x01;  // in s
  EXPECT_EQ(verifyQuote(enrolled_.ak, q->attest, sig, expect(nonce)).error().code, ErrorCode::QuoteSignatureInvalid);
  // TPMT_SIGNATURE: sigAlg(2) hash(2) r(2+32) s(2+32). ECDSA with SHA-1 is not
  // the AK's scheme.
  Bytes sha1 = q->signature;
  sha1[3] = 0x04;
  EXPECT_EQ(verifyQuote(enrolled_.ak, q->attest, sha1, expect(nonce)).error().code, ErrorCode::QuoteSignatureInvalid);
}

TEST_F(ApproverQuote, QuoteByAnotherTpmsAkIsSignatureInvalid) {
  RunningTpm b("b");
  Enrolled eb = enrol(b.device());
  const Bytes nonce = randomBytes(32);
  auto q = b.device().quote(nonce);
  ASSERT_TRUE(q);
  const Bytes goldenB = pcrCompositeDigest(*b.device().readPcrs(kDefaultQuotePcrs));
  ASSERT_TRUE(verifyQuote(eb.ak, q->attest, q->signature, {nonce, kDefaultQuotePcrs, goldenB}));
  auto refused = verifyQuote(enrolled_.ak, q->attest, q->signature, {nonce, kDefaultQuotePcrs, goldenB});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::QuoteSignatureInvalid);
}

TEST_F(ApproverQuote, TruncatedOrGarbageIsMalformed) {
  const Bytes nonce = randomBytes(32);
  auto q = a_->device().quote(nonce);
  ASSERT_TRUE(q);
  const auto malformed = [&](const Bytes& attest, const Bytes& sig) {
    auto r = verifyQuote(enrolled_.ak, attest, sig, expect(nonce));
    return !r && r.error().code == ErrorCode::QuoteMalformed;
  };
  Bytes longer = q->attest;
  longer.push_back(0);
  EXPECT_TRUE(malformed(longer, q->signature));
  EXPECT_TRUE(malformed(Bytes(q->attest.begin(), q->attest.end() - 1), q->signature));
  EXPECT_TRUE(malformed(Bytes{}, q->signature));
  EXPECT_TRUE(malformed(Bytes(q->attest.size(), 0xa5), q->signature));
  Bytes sigLonger = q->signature;
  sigLonger.push_back(0);
  EXPECT_TRUE(malformed(q->attest, sigLonger));
  EXPECT_TRUE(malformed(q->attest, Bytes(q->signature.begin(), q->signature.end() - 1)));
  EXPECT_TRUE(malformed(q->attest, Bytes{}));
  Bytes magic = q->attest;
  magic[0] ^= 0x01;
  EXPECT_TRUE(malformed(magic, q->signature));
  Bytes type = q->attest;
  type[5] = 0x17;  // TPM_ST_ATTEST_CERTIFY
  EXPECT_FALSE(verifyQuote(enrolled_.ak, type, q->signature, expect(nonce)));
}

TEST_F(ApproverQuote, SuccessiveQuotesAreFresh) {
  auto q1 = a_->device().quote(randomBytes(32));
  ASSERT_TRUE(q1);
  // The TPM clock counts milliseconds: let one pass.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto q2 = a_->device().quote(randomBytes(32));
  ASSERT_TRUE(q2);
  auto p1 = parseQuote(q1->attest, q1->signature);
  auto p2 = parseQuote(q2->attest, q2->signature);
  ASSERT_TRUE(p1 && p2);
  EXPECT_GT(p2->clock.clock, p1->clock.clock);
  EXPECT_EQ(p2->clock.resetCount, p1->clock.resetCount);
  EXPECT_TRUE(isAfter(p1->clock, p2->clock));
  EXPECT_TRUE(checkFresh(p1->clock, p2->clock));
  EXPECT_EQ(checkFresh(p2->clock, p1->clock).error().code, ErrorCode::QuoteNotFresh);
  EXPECT_EQ(checkFresh(p2->clock, p2->clock).error().code, ErrorCode::QuoteNotFresh);  // a replay

  // A TPM reset (swtpm restarted with startup-clear) counts up resetCount.
  a_->restart();
  auto q3 = a_->device().quote(randomBytes(32));
  ASSERT_TRUE(q3) << q3.error().describe();
  auto p3 = parseQuote(q3->attest, q3->signature);
  ASSERT_TRUE(p3);
  EXPECT_GT(p3->clock.resetCount, p2->clock.resetCount);
  EXPECT_TRUE(isAfter(p2->clock, p3->clock));
}

TEST_F(ApproverQuote, BadArgumentsAreRefused) {
  EXPECT_EQ(a_->device().quote(Bytes{}).error().code, ErrorCode::TpmBadInput);
  EXPECT_EQ(a_->device().quote(randomBytes(65)).error().code, ErrorCode::TpmBadInput);
  EXPECT_EQ(a_->device().quote(randomBytes(32), {24}).error().code, ErrorCode::TpmBadInput);
  EXPECT_EQ(a_->device().readPcrs({}).error().code, ErrorCode::TpmBadInput);
  auto q = a_->device().quote(randomBytes(32));
  ASSERT_TRUE(q);
  EXPECT_EQ(verifyQuote(enrolled_.ak, q->attest, q->signature, {Bytes{}, kDefaultQuotePcrs, golden_}).error().code,
            ErrorCode::TpmBadInput);
  EXPECT_EQ(verifyQuote(enrolled_.ak, q->attest, q->signature, {randomBytes(32), {}, golden_}).error().code,
            ErrorCode::TpmBadInput);
  EXPECT_EQ(
      verifyQuote(enrolled_.ak, q->attest, q->signature, {randomBytes(32), kDefaultQuotePcrs, Bytes(31)}).error().code,
      ErrorCode::TpmBadInput);
}

}  // namespace
}  // namespace sealgate::attest
