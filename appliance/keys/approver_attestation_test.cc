// Approver enrolment end to end on real software TPMs: breakglass::Approvers
// with the real ApproverAttestation (attest/'s verifier and the vendor CA
// bundle) against attest::ApproverDevice on swtpm instances manufactured with
// EK certificates by per-test local CAs (tests/support/swtpm.h). No TPM mocks:
// every EK, AK, credential and quote here comes from a TPM.
#include "appliance/keys/approver_attestation.h"

#include <gtest/gtest.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <filesystem>
#include <map>
#include <memory>

#include "appliance/breakglass/approvers.h"
#include "attest/approver_device.h"
#include "attest/approver_verifier.h"
#include "attest/tpm.h"
#include "core/json_parse.h"
#include "tests/support/memory_state_store.h"
#include "tests/support/swtpm.h"
#include "tests/support/temp_dir.h"

namespace sealgate::appliance {
namespace {

namespace fs = std::filesystem;
using breakglass::Approvers;
using breakglass::ApproverState;

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kAdmin = "spiffe://sealgate-admin/admin/root";

std::array<std::uint8_t, 32> randomChallenge() {
  std::array<std::uint8_t, 32> c{};
  if (RAND_bytes(c.data(), static_cast<int>(c.size())) != 1) throw std::runtime_error("RAND_bytes");
  return c;
}

Bytes sha256(std::span<const std::uint8_t> data) {
  Bytes out(SHA256_DIGEST_LENGTH);
  SHA256(data.data(), data.size(), out.data());
  return out;
}

// Manufactured TPM states, made once per process and copied for each test:
// "a" and "b" by the vendor CA the appliance trusts, "c" by another one.
class Factory {
 public:
  static Factory& get() {
    static Factory f;
    return f;
  }
  ~Factory() { fs::remove_all(root_); }
  Factory(const Factory&) = delete;
  Factory& operator=(const Factory&) = delete;
  std::string trustedBundle() {
    golden("a");
    return ca_.bundlePath();
  }
  std::string golden(const std::string& which) {
    if (auto it = golden_.find(which); it != golden_.end()) return it->second;
    std::string dir = root_ + "/golden-" + which;
    (which == "c" ? otherCa_ : ca_).manufacture(dir);
    golden_[which] = dir;
    return dir;
  }

 private:
  Factory() : root_(testing::makeTempDir("sealgate-enrol")), ca_(root_ + "/ca"), otherCa_(root_ + "/other-ca") {}
  std::string root_;
  testing::SwtpmLocalCa ca_;
  testing::SwtpmLocalCa otherCa_;
  std::map<std::string, std::string> golden_;
};

// An approver's TPM: a copy of a manufactured state, swtpm on it, the device.
class ApproverTpm {
 public:
  explicit ApproverTpm(const std::string& which) : dir_(testing::makeTempDir("sealgate-enrol-tpm")) {
    fs::copy(Factory::get().golden(which), dir_, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    swtpm_ = std::make_unique<testing::Swtpm>(dir_);
    openDevice();
  }
  ~ApproverTpm() {
    device_.reset();
    swtpm_.reset();
    fs::remove_all(dir_);
  }
  ApproverTpm(const ApproverTpm&) = delete;
  ApproverTpm& operator=(const ApproverTpm&) = delete;
  attest::ApproverDevice& device() { return *device_; }
  // Through attest::Tpm: swtpm serves one connection at a time.
  void extendPcr(unsigned pcr, std::string_view data) {
    device_.reset();
    {
      auto tpm = attest::Tpm::open(swtpm_->tcti());
      ASSERT_TRUE(tpm) << tpm.error().describe();
      ASSERT_TRUE((*tpm)->extendPcr(pcr, data));
    }
    openDevice();
  }

 private:
  void openDevice() {
    auto dev = attest::ApproverDevice::open(swtpm_->tcti());
    if (!dev) throw std::runtime_error(dev.error().describe());
    device_ = std::move(*dev);
  }
  std::string dir_;
  std::unique_ptr<testing::Swtpm> swtpm_;
  std::unique_ptr<attest::ApproverDevice> device_;
};

// What an approver's CLI posts in step 2.
struct DevicePost {
  Bytes ekCertificate;
  Bytes ekPublic;
  Bytes akPublic;
};

DevicePost devicePost(attest::ApproverDevice& dev) {
  DevicePost p;
  auto cert = dev.ekCertificate();
  auto ek = dev.ekPublic();
  auto ak = dev.createAk();
  if (!cert || !ek || !ak) throw std::runtime_error("the approver device did not answer");
  p.ekCertificate = std::move(*cert);
  p.ekPublic = std::move(*ek);
  p.akPublic = std::move(ak->publicArea);
  return p;
}

class ApproverEnrolmentOnSwtpm : public ::testing::Test {
 protected:
  ApproverEnrolmentOnSwtpm()
      : attestation_(Factory::get().trustedBundle()), approvers_(state_, attestation_, settings_) {}

  Result<Approvers::IssuedCredential> submit(const std::string& name, const DevicePost& p) {
    return approvers_.submitDevice(name, p.ekCertificate, p.ekPublic, p.akPublic, kNow + 1);
  }

  // Steps 3 and 4 on `dev`: activate the credential, quote over SHA-256(secret).
  Result<breakglass::ApproverSummary> activateOn(const std::string& name, attest::ApproverDevice& dev,
                                                 const Approvers::IssuedCredential& issued) {
    auto secret = dev.activateCredential(issued.credentialBlob, issued.encryptedSecret);
    if (!secret) return secret.error();
    auto quote = dev.quote(sha256(secret->exposeSecretBytes()), settings_.approverPcrs);
    if (!quote) return quote.error();
    return approvers_.activate(name, *secret, quote->attest, quote->signature, kNow + 2);
  }

  void enrol(const std::string& name, attest::ApproverDevice& dev) {
    ASSERT_TRUE(approvers_.createPending(name, kAdmin, {}, kNow));
    auto issued = submit(name, devicePost(dev));
    ASSERT_TRUE(issued) << issued.error().describe();
    auto enrolled = activateOn(name, dev, *issued);
    ASSERT_TRUE(enrolled) << enrolled.error().describe();
    ASSERT_EQ(enrolled->state, ApproverState::Enrolled);
  }

  std::map<std::string, std::string> stored() const {
    std::map<std::string, std::string> out;
    for (const auto& r : state_.records(breakglass::kApproverRecordKind)) out[r.id] = r.dataJson;
    return out;
  }

  ErrorCode verifyCode(const std::string& name, const attest::TpmQuote& q,
                       const std::array<std::uint8_t, 32>& challenge) {
    auto r = approvers_.verify(name, q.attest, q.signature, challenge);
    return r ? ErrorCode::Internal : r.error().code;
  }

  MemoryStateStore state_;
  breakglass::Settings settings_;
  ApproverAttestation attestation_;
  Approvers approvers_;
};

TEST_F(ApproverEnrolmentOnSwtpm, EnrolsThenVerifiesApprovalQuotes) {
  EXPECT_EQ(settings_.approverPcrs, attest::kDefaultQuotePcrs);
  ApproverTpm a("a");
  ApproverTpm b("b");
  enrol("alice", a.device());
  const auto alice = approvers_.find("alice");
  EXPECT_EQ(alice->akFingerprint.size(), 64u);
  // The golden digest is the device's PCR state at enrolment.
  auto pcrs = a.device().readPcrs(attest::kDefaultQuotePcrs);
  ASSERT_TRUE(pcrs);
  const auto record = parseJson(stored().at("alice"));
  ASSERT_TRUE(record);
  EXPECT_EQ(record->at("golden_pcr_digest").get<std::string>(), hexLower(attest::pcrCompositeDigest(*pcrs)));
  EXPECT_EQ(record->at("secret_sha256").get<std::string>(), "");

  // A break-glass approval: a quote over the approval's qualifying data.
  const auto challenge = randomChallenge();
  auto q = a.device().quote(challenge, attest::kDefaultQuotePcrs);
  ASSERT_TRUE(q);
  auto verified = approvers_.verify("alice", q->attest, q->signature, challenge);
  ASSERT_TRUE(verified) << verified.error().describe();
  EXPECT_EQ(verified->akFingerprint, alice->akFingerprint);
  EXPECT_TRUE(verified->clock.isAfter(*alice->enrolmentClock));

  // Over other qualifying data.
  EXPECT_EQ(verifyCode("alice", *q, randomChallenge()), ErrorCode::QuoteNonceMismatch);
  // By TPM B's AK, as alice.
  ASSERT_TRUE(b.device().createAk());
  auto qb = b.device().quote(challenge, attest::kDefaultQuotePcrs);
  ASSERT_TRUE(qb);
  EXPECT_EQ(verifyCode("alice", *qb, challenge), ErrorCode::QuoteSignatureInvalid);
  // A's PCR 16 extended after enrolment.
  a.extendPcr(16, "not what was enrolled");
  auto drifted = a.device().quote(challenge, attest::kDefaultQuotePcrs);
  ASSERT_TRUE(drifted);
  EXPECT_EQ(verifyCode("alice", *drifted, challenge), ErrorCode::QuotePcrMismatch);
  // Not enrolled at all.
  EXPECT_EQ(verifyCode("bob", *qb, challenge), ErrorCode::ApproverNotEnrolled);
}

TEST_F(ApproverEnrolmentOnSwtpm, EkOfAnotherVendorIsUntrusted) {
  ApproverTpm c("c");
  ASSERT_TRUE(approvers_.createPending("carol", kAdmin, {}, kNow));
  const auto before = stored();
  auto refused = submit("carol", devicePost(c.device()));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::EkUntrusted) << refused.error().describe();
  EXPECT_EQ(stored(), before);
  EXPECT_EQ(approvers_.find("carol")->state, ApproverState::Pending);
}

TEST_F(ApproverEnrolmentOnSwtpm, EkCertificateOfAnotherTpmIsMismatch) {
  ApproverTpm a("a");
  ApproverTpm b("b");
  ASSERT_TRUE(approvers_.createPending("bob", kAdmin, {}, kNow));
  DevicePost post = devicePost(b.device());
  auto certA = a.device().ekCertificate();
  ASSERT_TRUE(certA);
  post.ekCertificate = *certA;  // genuine, but A's
  const auto before = stored();
  auto refused = submit("bob", post);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::EkMismatch) << refused.error().describe();
  EXPECT_EQ(stored(), before);
}

TEST_F(ApproverEnrolmentOnSwtpm, ForgedAkIsRejected) {
  ApproverTpm a("a");
  ASSERT_TRUE(approvers_.createPending("alice", kAdmin, {}, kNow));
  DevicePost post = devicePost(a.device());
  const auto before = stored();
  // TPM2B_PUBLIC: size(2) type(2) nameAlg(2) objectAttributes(4, big-endian):
  // RESTRICTED (0x00010000) cleared, a key that would sign anything.
  DevicePost unrestricted = post;
  unrestricted.akPublic[7] ^= 0x01;
  auto refused = submit("alice", unrestricted);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::AkRejected) << refused.error().describe();
  // The EK posted as the AK.
  DevicePost ekAsAk = post;
  ekAsAk.akPublic = post.ekPublic;
  EXPECT_EQ(submit("alice", ekAsAk).error().code, ErrorCode::AkRejected);
  EXPECT_EQ(stored(), before);
  // The genuine one goes through.
  EXPECT_TRUE(submit("alice", post));
}

TEST_F(ApproverEnrolmentOnSwtpm, CredentialOnlyActivatesInTheTpmOfTheEk) {
  ApproverTpm a("a");
  ApproverTpm b("b");
  ASSERT_TRUE(b.device().createAk());
  ASSERT_TRUE(approvers_.createPending("alice", kAdmin, {}, kNow));
  auto issued = submit("alice", devicePost(a.device()));
  ASSERT_TRUE(issued) << issued.error().describe();
  // TPM B cannot recover the secret; the enrolment stays where it was.
  const auto before = stored();
  EXPECT_FALSE(b.device().activateCredential(issued->credentialBlob, issued->encryptedSecret));
  EXPECT_EQ(approvers_.find("alice")->state, ApproverState::Challenged);
  EXPECT_EQ(stored(), before);
  // A guessed secret with B's quote: refused, and the credential is used up.
  auto guess = Secret::copyFrom(Bytes(32, 0x5a));
  ASSERT_TRUE(guess);
  auto qb = b.device().quote(sha256(guess->exposeSecretBytes()), attest::kDefaultQuotePcrs);
  ASSERT_TRUE(qb);
  auto refused = approvers_.activate("alice", *guess, qb->attest, qb->signature, kNow + 2);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::CredentialMismatch);
  EXPECT_EQ(approvers_.find("alice")->state, ApproverState::Pending);
  EXPECT_EQ(approvers_.enrolledCount(), 0u);
  // A, which holds the right secret, now needs a new credential.
  EXPECT_EQ(activateOn("alice", a.device(), *issued).error().code, ErrorCode::ApproverNotPending);
  ASSERT_TRUE(a.device().evictAk());
  auto again = submit("alice", devicePost(a.device()));
  ASSERT_TRUE(again);
  auto enrolled = activateOn("alice", a.device(), *again);
  ASSERT_TRUE(enrolled) << enrolled.error().describe();
  EXPECT_EQ(enrolled->state, ApproverState::Enrolled);
}

TEST_F(ApproverEnrolmentOnSwtpm, EnrolmentQuoteOverOtherDataIsRefused) {
  ApproverTpm a("a");
  ASSERT_TRUE(approvers_.createPending("alice", kAdmin, {}, kNow));
  auto issued = submit("alice", devicePost(a.device()));
  ASSERT_TRUE(issued);
  auto secret = a.device().activateCredential(issued->credentialBlob, issued->encryptedSecret);
  ASSERT_TRUE(secret) << secret.error().describe();
  // The right secret, but the quote is not over SHA-256(secret).
  const auto other = randomChallenge();
  auto q = a.device().quote(other, attest::kDefaultQuotePcrs);
  ASSERT_TRUE(q);
  auto refused = approvers_.activate("alice", *secret, q->attest, q->signature, kNow + 2);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::QuoteNonceMismatch);
  EXPECT_EQ(approvers_.find("alice")->state, ApproverState::Pending);
}

TEST_F(ApproverEnrolmentOnSwtpm, OneTpmEnrolsOneApprover) {
  ApproverTpm a("a");
  enrol("alice", a.device());
  ASSERT_TRUE(approvers_.createPending("bob", kAdmin, {}, kNow));
  // A second AK in alice's TPM, for bob.
  auto ak2 = a.device().createAk(attest::kDefaultAkHandle + 1);
  ASSERT_TRUE(ak2);
  auto cert = a.device().ekCertificate();
  auto ek = a.device().ekPublic();
  ASSERT_TRUE(cert && ek);
  auto refused = approvers_.submitDevice("bob", *cert, *ek, ak2->publicArea, kNow + 1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::ApproverDeviceInUse);
  EXPECT_EQ(approvers_.find("bob")->state, ApproverState::Pending);
}

}  // namespace
}  // namespace sealgate::appliance
