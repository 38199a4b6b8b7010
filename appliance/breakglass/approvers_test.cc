// Approver enrolment's decisions with a scripted DeviceAttestation (a fake: no
// TPM, no certificates; it stands in for the contract of device_attestation.h)
// and the in-memory state. The real attestation (keys/approver_attestation.h
// over attest/) is tested end to end against swtpm in
// appliance/keys/approver_attestation_test.cc.
#include "appliance/breakglass/approvers.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <optional>
#include <sstream>

#include "appliance/breakglass/test_util.h"
#include "core/encoding.h"
#include "core/json_parse.h"
#include "tests/support/memory_state_store.h"

namespace sealgate::appliance::breakglass {
namespace {

using namespace fakes;  // NOLINT(google-build-using-namespace): the folder's test doubles

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kAdmin = "spiffe://sealgate-admin/admin/root";

// A state store whose record writes and deletes fail on demand.
class FailingRecords : public MemoryStateStore {
 public:
  bool failing = false;
  Result<void> putRecord(const Record& record) override {
    if (failing) return makeError(ErrorCode::StateUnavailable, "the test state is failing");
    return MemoryStateStore::putRecord(record);
  }
  Result<void> deleteRecord(const std::string& kind, const std::string& id) override {
    if (failing) return makeError(ErrorCode::StateUnavailable, "the test state is failing");
    return MemoryStateStore::deleteRecord(kind, id);
  }
};

const std::vector<unsigned> kDefaultPcrs = {0, 1, 2, 3, 7, 16};

class ApproversTest : public ::testing::Test {
 protected:
  ApproversTest() {
    settings_.quorum = 2;
    settings_.credentialTtlSeconds = 300;
  }

  // The stored approver records, to show a refusal changed nothing.
  std::map<std::string, std::string> stored() const {
    std::map<std::string, std::string> out;
    for (const auto& r : state_.records(kApproverRecordKind)) out[r.id] = r.dataJson;
    return out;
  }

  Result<Approvers::IssuedCredential> submit(Approvers& a, const std::string& name, const std::string& dev,
                                             std::int64_t at = kNow + 1) {
    return a.submitDevice(name, text("cert-" + dev), text("ek-" + dev), text("ak-" + dev), at);
  }

  // The device's answer: the secret it activated and a quote over SHA-256(secret).
  Result<ApproverSummary> answer(Approvers& a, const std::string& name, const std::string& dev,
                                 std::int64_t at = kNow + 2, std::uint64_t clock = 1000,
                                 const std::string& digest = "golden") {
    const Bytes qd = sha256(att_.issued->exposeSecretBytes());
    return a.activate(name, *att_.issued, ScriptedAttestation::quote("ak-" + dev, qd, kDefaultPcrs, digest, clock),
                      text("sig"), at);
  }

  void enrol(Approvers& a, const std::string& name, const std::string& dev) {
    ASSERT_TRUE(a.createPending(name, kAdmin, {}, kNow));
    auto issued = submit(a, name, dev);
    ASSERT_TRUE(issued) << issued.error().describe();
    auto done = answer(a, name, dev);
    ASSERT_TRUE(done) << done.error().describe();
    ASSERT_EQ(done->state, ApproverState::Enrolled);
  }

  static std::array<std::uint8_t, 32> challenge(std::uint8_t fill) {
    std::array<std::uint8_t, 32> c{};
    c.fill(fill);
    return c;
  }

  MemoryStateStore state_;
  ScriptedAttestation att_;
  Settings settings_;
};

TEST_F(ApproversTest, EnrolmentRoundTripThenApprovalsVerify) {
  Approvers a(state_, att_, settings_);
  auto pending = a.createPending("alice", kAdmin, {}, kNow);
  ASSERT_TRUE(pending) << pending.error().describe();
  EXPECT_EQ(pending->state, ApproverState::Pending);
  EXPECT_EQ(pending->pcrs, kDefaultPcrs);  // the configured default
  EXPECT_EQ(a.enrolledCount(), 0u);

  auto issued = submit(a, "alice", "A");
  ASSERT_TRUE(issued) << issued.error().describe();
  EXPECT_EQ(str(issued->credentialBlob), "blob-name-ak-A");
  EXPECT_EQ(str(issued->encryptedSecret), "enc-ek-A");
  EXPECT_EQ(issued->expiresAt, kNow + 1 + 300);
  EXPECT_EQ(att_.issuedFor, "name-ak-A|ek-A");
  EXPECT_EQ(a.find("alice")->state, ApproverState::Challenged);
  // The record holds the secret's hash, never the secret.
  const std::string challenged = stored().at("alice");
  const std::string secretHex = hexLower(att_.issued->exposeSecretBytes());
  EXPECT_EQ(challenged.find(secretHex), std::string::npos);
  EXPECT_NE(challenged.find(hexLower(sha256(att_.issued->exposeSecretBytes()))), std::string::npos);

  auto enrolled = answer(a, "alice", "A", kNow + 2, 1000);
  ASSERT_TRUE(enrolled) << enrolled.error().describe();
  EXPECT_EQ(enrolled->state, ApproverState::Enrolled);
  EXPECT_EQ(enrolled->akFingerprint, "fp-ak-A");
  EXPECT_EQ(enrolled->enrolledAt, kNow + 2);
  ASSERT_TRUE(enrolled->enrolmentClock);
  EXPECT_EQ(enrolled->enrolmentClock->clock, 1000u);
  EXPECT_EQ(a.enrolledCount(), 1u);
  // Once enrolled, not even the hash is kept.
  EXPECT_EQ(stored().at("alice").find(hexLower(sha256(att_.issued->exposeSecretBytes()))), std::string::npos);

  // Approvals: the enrolled AK, selection and golden digest, the given challenge.
  const auto c = challenge(0x42);
  auto ok = a.verify("alice", ScriptedAttestation::quote("ak-A", c, kDefaultPcrs, "golden", 1001), text("sig"), c);
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_EQ(ok->akFingerprint, "fp-ak-A");
  EXPECT_EQ(ok->clock.clock, 1001u);
  const auto refused = [&](const std::string& who, const Bytes& quote) {
    auto r = a.verify(who, quote, text("sig"), c);
    return r ? ErrorCode::Internal : r.error().code;
  };
  EXPECT_EQ(refused("alice", ScriptedAttestation::quote("ak-A", c, kDefaultPcrs, "drifted", 1002)),
            ErrorCode::QuotePcrMismatch);
  EXPECT_EQ(refused("alice", ScriptedAttestation::quote("ak-A", c, {0, 1, 2, 3, 7}, "golden", 1002)),
            ErrorCode::QuotePcrMismatch);
  EXPECT_EQ(refused("alice", ScriptedAttestation::quote("ak-A", challenge(1), kDefaultPcrs, "golden", 1002)),
            ErrorCode::QuoteNonceMismatch);
  EXPECT_EQ(refused("alice", ScriptedAttestation::quote("ak-B", c, kDefaultPcrs, "golden", 1002)),
            ErrorCode::QuoteSignatureInvalid);
  // Not after the enrolment quote: made before enrolment, or a replay of it.
  EXPECT_EQ(refused("alice", ScriptedAttestation::quote("ak-A", c, kDefaultPcrs, "golden", 1000)),
            ErrorCode::QuoteNotFresh);
  EXPECT_EQ(refused("mallory", ScriptedAttestation::quote("ak-A", c, kDefaultPcrs, "golden", 1002)),
            ErrorCode::ApproverNotEnrolled);
  ASSERT_TRUE(a.createPending("bob", kAdmin, {}, kNow));
  EXPECT_EQ(refused("bob", ScriptedAttestation::quote("ak-A", c, kDefaultPcrs, "golden", 1002)),
            ErrorCode::ApproverNotEnrolled);
}

TEST_F(ApproversTest, ListShowsNoKeyMaterial) {
  Approvers a(state_, att_, settings_);
  enrol(a, "alice", "A");
  ASSERT_TRUE(a.createPending("bob", kAdmin, {7, 0}, kNow));
  const auto all = a.list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "alice");
  EXPECT_EQ(all[1].name, "bob");
  EXPECT_EQ(all[1].pcrs, (std::vector<unsigned>{0, 7}));  // sorted
  EXPECT_TRUE(all[1].akFingerprint.empty());
  const std::string shown = toApiJson(all[0]).dump();
  EXPECT_NE(shown.find("fp-ak-A"), std::string::npos);
  EXPECT_NE(shown.find("\"enrolled\""), std::string::npos);
  EXPECT_EQ(shown.find(hexLower(text("ak-A"))), std::string::npos);  // the AK's public area
  EXPECT_EQ(shown.find(hexLower(text("golden"))), std::string::npos);
  EXPECT_EQ(shown.find("ek"), std::string::npos);
}

TEST_F(ApproversTest, NamesAndPcrSelections) {
  Approvers a(state_, att_, settings_);
  for (const auto& bad : std::vector<std::string>{"", "Alice", "-a", ".a", "a/b", "a b", "a:b", std::string(65, 'a')}) {
    SCOPED_TRACE(bad);
    auto r = a.createPending(bad, kAdmin, {}, kNow);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::InvalidRequest);
  }
  for (const std::vector<unsigned>& bad : {std::vector<unsigned>{24}, std::vector<unsigned>{0, 7, 7}}) {
    auto r = a.createPending("alice", kAdmin, bad, kNow);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::InvalidRequest);
  }
  EXPECT_TRUE(stored().empty());
  EXPECT_TRUE(a.list().empty());
  for (const auto& good : std::vector<std::string>{"a", "0", "a.b_c-9", std::string(64, 'z')}) {
    EXPECT_TRUE(a.createPending(good, kAdmin, {}, kNow)) << good;
  }
  EXPECT_EQ(stored().size(), 4u);
}

TEST_F(ApproversTest, BootstrapEndsAtTheQuorum) {
  Approvers a(state_, att_, settings_);
  // Three pending enrolments opened while none is enrolled.
  for (const char* name : {"alice", "bob", "carol"}) ASSERT_TRUE(a.createPending(name, kAdmin, {}, kNow));
  ASSERT_TRUE(submit(a, "carol", "C"));
  enrol(a, "alice", "A");
  enrol(a, "bob", "B");
  EXPECT_EQ(a.enrolledCount(), 2u);
  const auto before = stored();
  // Quorum reached: no new enrolment, and the early ones cannot finish.
  auto more = a.createPending("dave", kAdmin, {}, kNow);
  ASSERT_FALSE(more);
  EXPECT_EQ(more.error().code, ErrorCode::EnrolmentNeedsQuorum);
  EXPECT_EQ(a.createPending("carol", kAdmin, {}, kNow).error().code, ErrorCode::EnrolmentNeedsQuorum);
  EXPECT_EQ(submit(a, "carol", "C").error().code, ErrorCode::EnrolmentNeedsQuorum);
  EXPECT_EQ(a.activate("carol", Secret{}, text("x"), text("sig"), kNow + 2).error().code,
            ErrorCode::EnrolmentNeedsQuorum);
  EXPECT_EQ(stored(), before);
  EXPECT_EQ(a.find("carol")->state, ApproverState::Challenged);
  EXPECT_EQ(a.enrolledCount(), 2u);
}

TEST_F(ApproversTest, PendingIsReplacedEnrolledIsNot) {
  Approvers a(state_, att_, settings_);
  ASSERT_TRUE(a.createPending("alice", kAdmin, {0}, kNow));
  ASSERT_TRUE(submit(a, "alice", "A"));
  // A second pending replaces the unfinished one, its credential with it.
  auto again = a.createPending("alice", "spiffe://sealgate-admin/admin/other", {}, kNow + 5);
  ASSERT_TRUE(again);
  EXPECT_EQ(a.find("alice")->state, ApproverState::Pending);
  EXPECT_EQ(a.find("alice")->pcrs, kDefaultPcrs);
  EXPECT_EQ(a.find("alice")->createdBy, "spiffe://sealgate-admin/admin/other");
  EXPECT_EQ(answer(a, "alice", "A").error().code, ErrorCode::ApproverNotPending);
  enrol(a, "alice", "A");
  const auto before = stored();
  auto exists = a.createPending("alice", kAdmin, {}, kNow);
  ASSERT_FALSE(exists);
  EXPECT_EQ(exists.error().code, ErrorCode::ApproverExists);
  EXPECT_EQ(stored(), before);
}

TEST_F(ApproversTest, DeviceRefusalsChangeNothing) {
  Approvers a(state_, att_, settings_);
  enrol(a, "alice", "A");
  ASSERT_TRUE(a.createPending("bob", kAdmin, {}, kNow));
  const auto before = stored();
  const auto code = [&](const std::string& name, const std::string& cert, const std::string& ek,
                        const std::string& ak) {
    auto r = a.submitDevice(name, text(cert), text(ek), text(ak), kNow + 1);
    return r ? ErrorCode::Internal : r.error().code;
  };
  EXPECT_EQ(code("nobody", "cert-B", "ek-B", "ak-B"), ErrorCode::ApproverNotPending);
  EXPECT_EQ(code("alice", "cert-B", "ek-B", "ak-B"), ErrorCode::ApproverNotPending);  // enrolled
  EXPECT_EQ(code("bob", "forged-B", "ek-B", "ak-B"), ErrorCode::EkUntrusted);
  EXPECT_EQ(code("bob", "cert-A", "ek-B", "ak-B"), ErrorCode::EkMismatch);
  EXPECT_EQ(code("bob", "cert-B", "ek-B", "key-B"), ErrorCode::AkRejected);
  // Alice's TPM for bob (a new AK in the same TPM): one device, one approver.
  EXPECT_EQ(code("bob", "cert-A", "ek-A", "ak-A2"), ErrorCode::ApproverDeviceInUse);
  EXPECT_EQ(att_.makeCredentials, 1);  // alice's only
  EXPECT_EQ(stored(), before);
  EXPECT_EQ(a.find("bob")->state, ApproverState::Pending);
  // The activation of an approver with no credential outstanding.
  EXPECT_EQ(a.activate("bob", Secret{}, text("x"), text("sig"), kNow + 2).error().code, ErrorCode::ApproverNotPending);
  EXPECT_EQ(a.activate("nobody", Secret{}, text("x"), text("sig"), kNow + 2).error().code,
            ErrorCode::ApproverNotPending);
  EXPECT_EQ(stored(), before);
}

TEST_F(ApproversTest, TheCredentialIsSingleUse) {
  Approvers a(state_, att_, settings_);
  ASSERT_TRUE(a.createPending("alice", kAdmin, {}, kNow));
  ASSERT_TRUE(submit(a, "alice", "A"));
  // A wrong secret (a TPM that could not activate it): refused, credential gone.
  auto wrong = Secret::copyFrom(Bytes(32, 0x01));
  ASSERT_TRUE(wrong);
  const Bytes qd = sha256(wrong->exposeSecretBytes());
  auto refused = a.activate("alice", *wrong, ScriptedAttestation::quote("ak-A", qd, kDefaultPcrs, "golden", 1000),
                            text("sig"), kNow + 2);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::CredentialMismatch);
  EXPECT_EQ(a.find("alice")->state, ApproverState::Pending);
  EXPECT_EQ(stored().at("alice").find("ak_fingerprint\":\"fp"), std::string::npos);
  // The right secret afterwards does not enrol: the credential was used.
  EXPECT_EQ(answer(a, "alice", "A").error().code, ErrorCode::ApproverNotPending);

  // The right secret with a bad quote also uses it up.
  ASSERT_TRUE(submit(a, "alice", "A"));
  const Bytes good = sha256(att_.issued->exposeSecretBytes());
  auto badQuote = a.activate("alice", *att_.issued, ScriptedAttestation::quote("ak-X", good, kDefaultPcrs, "g", 1000),
                             text("sig"), kNow + 2);
  ASSERT_FALSE(badQuote);
  EXPECT_EQ(badQuote.error().code, ErrorCode::QuoteSignatureInvalid);
  EXPECT_EQ(answer(a, "alice", "A").error().code, ErrorCode::ApproverNotPending);
  ASSERT_TRUE(submit(a, "alice", "A"));
  auto otherNonce =
      a.activate("alice", *att_.issued, ScriptedAttestation::quote("ak-A", Bytes(32, 0), kDefaultPcrs, "golden", 1000),
                 text("sig"), kNow + 2);
  EXPECT_EQ(otherNonce.error().code, ErrorCode::QuoteNonceMismatch);
  EXPECT_EQ(answer(a, "alice", "A").error().code, ErrorCode::ApproverNotPending);

  // A new submitDevice issues a new credential, which works once.
  ASSERT_TRUE(submit(a, "alice", "A"));
  ASSERT_TRUE(answer(a, "alice", "A"));
  EXPECT_EQ(a.find("alice")->state, ApproverState::Enrolled);
  EXPECT_EQ(answer(a, "alice", "A").error().code, ErrorCode::ApproverNotPending);
}

TEST_F(ApproversTest, AResubmissionReplacesTheCredential) {
  Approvers a(state_, att_, settings_);
  ASSERT_TRUE(a.createPending("alice", kAdmin, {}, kNow));
  ASSERT_TRUE(submit(a, "alice", "A"));
  auto first = Secret::copyFrom(att_.issued->exposeSecretBytes());
  ASSERT_TRUE(first);
  ASSERT_TRUE(submit(a, "alice", "A"));
  EXPECT_FALSE(first->equals(*att_.issued));  // a fresh random secret each time
  const Bytes qd = sha256(first->exposeSecretBytes());
  EXPECT_EQ(a.activate("alice", *first, ScriptedAttestation::quote("ak-A", qd, kDefaultPcrs, "golden", 1000),
                       text("sig"), kNow + 2)
                .error()
                .code,
            ErrorCode::CredentialMismatch);
}

TEST_F(ApproversTest, AnExpiredCredentialIsRefusedAndKept) {
  Approvers a(state_, att_, settings_);
  ASSERT_TRUE(a.createPending("alice", kAdmin, {}, kNow));
  auto issued = submit(a, "alice", "A", kNow);
  ASSERT_TRUE(issued);
  EXPECT_EQ(issued->expiresAt, kNow + 300);
  const auto before = stored();
  auto late = answer(a, "alice", "A", kNow + 300);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::CredentialExpired);
  EXPECT_EQ(stored(), before);
  EXPECT_EQ(a.find("alice")->state, ApproverState::Challenged);
  // The last second still counts.
  ASSERT_TRUE(answer(a, "alice", "A", kNow + 299));
}

TEST_F(ApproversTest, EverythingSurvivesARestart) {
  std::array<std::uint8_t, 32> c = challenge(7);
  {
    Approvers a(state_, att_, settings_);
    enrol(a, "alice", "A");
    ASSERT_TRUE(a.createPending("bob", kAdmin, {0, 7}, kNow));
    ASSERT_TRUE(submit(a, "bob", "B"));
  }
  Approvers again(state_, att_, settings_);
  ASSERT_TRUE(again.load());
  ASSERT_EQ(again.list().size(), 2u);
  EXPECT_EQ(again.enrolledCount(), 1u);
  const auto alice = again.find("alice");
  EXPECT_EQ(alice->akFingerprint, "fp-ak-A");
  EXPECT_EQ(alice->enrolmentClock->clock, 1000u);
  // The golden digest, the selection and the enrolment clock came back.
  EXPECT_TRUE(
      again.verify("alice", ScriptedAttestation::quote("ak-A", c, kDefaultPcrs, "golden", 1001), text("sig"), c));
  EXPECT_EQ(again.verify("alice", ScriptedAttestation::quote("ak-A", c, kDefaultPcrs, "golden", 999), text("sig"), c)
                .error()
                .code,
            ErrorCode::QuoteNotFresh);
  // Bob's outstanding credential too (only its hash was stored).
  const Bytes qd = sha256(att_.issued->exposeSecretBytes());
  auto bob = again.activate("bob", *att_.issued, ScriptedAttestation::quote("ak-B", qd, {0, 7}, "b", 5), text("sig"),
                            kNow + 3);
  ASSERT_TRUE(bob) << bob.error().describe();
  EXPECT_EQ(again.enrolledCount(), 2u);
}

TEST_F(ApproversTest, RecordsThatDoNotReadBackAreTampering) {
  {
    Approvers a(state_, att_, settings_);
    enrol(a, "alice", "A");
  }
  const std::string data = stored().at("alice");
  ASSERT_TRUE(state_.putRecord({kApproverRecordKind, "bob", data}));
  Approvers other(state_, att_, settings_);
  EXPECT_EQ(other.load().error().code, ErrorCode::StateTampered);
  ASSERT_TRUE(state_.putRecord({kApproverRecordKind, "bob", "{\"name\":\"bob\"}"}));
  EXPECT_EQ(other.load().error().code, ErrorCode::StateTampered);
  auto j = parseJson(data);
  ASSERT_TRUE(j);
  (*j)["name"] = "bob";
  (*j)["ak_public"] = "zz";
  ASSERT_TRUE(state_.putRecord({kApproverRecordKind, "bob", j->dump()}));
  EXPECT_EQ(other.load().error().code, ErrorCode::StateTampered);
  EXPECT_TRUE(other.list().empty());
  ASSERT_TRUE(state_.deleteRecord(kApproverRecordKind, "bob"));
  ASSERT_TRUE(other.load());
  EXPECT_EQ(other.enrolledCount(), 1u);
}

TEST_F(ApproversTest, RemovalKeepsTheQuorum) {
  settings_.quorum = 3;
  {
    Approvers a(state_, att_, settings_);
    enrol(a, "alice", "A");
    enrol(a, "bob", "B");
    enrol(a, "carol", "C");
  }
  settings_.quorum = 2;  // the quorum lowered in the configuration
  Approvers a(state_, att_, settings_);
  ASSERT_TRUE(a.load());
  EXPECT_EQ(a.createPending("dave", kAdmin, {}, kNow).error().code, ErrorCode::EnrolmentNeedsQuorum);
  EXPECT_EQ(a.remove("nobody").error().code, ErrorCode::NotFound);
  // With the quorum enrolled, a removal needs a quorum-approved request for it.
  EXPECT_EQ(a.remove("carol").error().code, ErrorCode::EnrolmentNeedsQuorum);
  a.setQuorumApproval([](const std::string& name, bool removal) { return removal && name != "alice"; });
  EXPECT_EQ(a.remove("alice").error().code, ErrorCode::EnrolmentNeedsQuorum);
  ASSERT_TRUE(a.remove("carol"));
  EXPECT_EQ(a.enrolledCount(), 2u);
  EXPECT_FALSE(a.find("carol"));
  EXPECT_EQ(stored().count("carol"), 0u);
  const auto before = stored();
  auto refused = a.remove("bob");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::QuorumWouldBreak);
  EXPECT_EQ(stored(), before);
  EXPECT_EQ(a.enrolledCount(), 2u);
  // Carol's approvals are refused once she is removed.
  const auto c = challenge(9);
  EXPECT_EQ(a.verify("carol", ScriptedAttestation::quote("ak-C", c, kDefaultPcrs, "golden", 2000), text("sig"), c)
                .error()
                .code,
            ErrorCode::ApproverNotEnrolled);
}

TEST_F(ApproversTest, APendingEnrolmentCanAlwaysBeCancelled) {
  Approvers a(state_, att_, settings_);
  enrol(a, "alice", "A");
  ASSERT_TRUE(a.createPending("bob", kAdmin, {}, kNow));
  ASSERT_TRUE(submit(a, "bob", "B"));
  ASSERT_TRUE(a.remove("bob"));
  EXPECT_EQ(answer(a, "bob", "B").error().code, ErrorCode::ApproverNotPending);
  // Below the quorum (bootstrap), an enrolled approver can be removed.
  ASSERT_TRUE(a.remove("alice"));
  EXPECT_TRUE(stored().empty());
}

TEST_F(ApproversTest, AFailedWriteChangesNothing) {
  FailingRecords state;
  Approvers a(state, att_, settings_);
  state.failing = true;
  EXPECT_EQ(a.createPending("alice", kAdmin, {}, kNow).error().code, ErrorCode::StateUnavailable);
  EXPECT_FALSE(a.find("alice"));
  state.failing = false;
  ASSERT_TRUE(a.createPending("alice", kAdmin, {}, kNow));
  state.failing = true;
  EXPECT_EQ(submit(a, "alice", "A").error().code, ErrorCode::StateUnavailable);
  EXPECT_EQ(a.find("alice")->state, ApproverState::Pending);
  state.failing = false;
  ASSERT_TRUE(submit(a, "alice", "A"));
  state.failing = true;
  // Neither the enrolment nor the use of the credential is stored: both stay
  // as they were, so the same answer goes through once the state works.
  EXPECT_EQ(answer(a, "alice", "A").error().code, ErrorCode::StateUnavailable);
  EXPECT_EQ(a.find("alice")->state, ApproverState::Challenged);
  auto wrong = Secret::copyFrom(Bytes(32, 0x01));
  ASSERT_TRUE(wrong);
  EXPECT_EQ(a.activate("alice", *wrong, text("x"), text("sig"), kNow + 2).error().code, ErrorCode::StateUnavailable);
  EXPECT_EQ(a.find("alice")->state, ApproverState::Challenged);
  state.failing = false;
  ASSERT_TRUE(answer(a, "alice", "A"));
  state.failing = true;
  EXPECT_EQ(a.remove("alice").error().code, ErrorCode::StateUnavailable);
  EXPECT_EQ(a.enrolledCount(), 1u);
  state.failing = false;
  Approvers reloaded(state, att_, settings_);
  ASSERT_TRUE(reloaded.load());
  EXPECT_EQ(reloaded.enrolledCount(), 1u);
}

TEST_F(ApproversTest, BreakGlassApprovesThroughEnrolledDevices) {
  Approvers approvers(state_, att_, settings_);
  enrol(approvers, "bob", "B");
  enrol(approvers, "carol", "C");
  BreakGlass bg(state_, approvers, settings_);
  Ask ask;
  ask.tenant = "acme";
  ask.uriPrefixes = {"secret://acme/kv/payments"};
  ask.actions = {"use"};
  ask.reason = "INC-2";
  ask.durationSeconds = 60;
  auto r = bg.create("spiffe://sealgate-admin/admin/alice", ask, kNow);
  ASSERT_TRUE(r);
  const auto qd = qualifyingData(*r);
  const auto approve = [&](const std::string& who, const std::string& ak, std::uint64_t clock) {
    return bg.approve("spiffe://sealgate-admin/approver/" + who, r->id,
                      ScriptedAttestation::quote(ak, qd, kDefaultPcrs, "golden", clock), text("sig"), kNow + 10);
  };
  EXPECT_EQ(approve("bob", "ak-C", 1001).error().code, ErrorCode::QuoteSignatureInvalid);  // carol's device
  auto first = approve("bob", "ak-B", 1001);
  ASSERT_TRUE(first) << first.error().describe();
  EXPECT_EQ(first->request.approvals.at(0).akFingerprint, "fp-ak-B");
  auto second = approve("carol", "ak-C", 1001);
  ASSERT_TRUE(second) << second.error().describe();
  EXPECT_TRUE(second->opened);
}

}  // namespace
}  // namespace sealgate::appliance::breakglass
