// BreakGlass's decisions with a scripted quote verifier and the in-memory state
// (the TPM checks themselves are attest/'s, tested against swtpm).
#include "appliance/breakglass/service.h"

#include <gtest/gtest.h>

#include <map>

#include "appliance/breakglass/test_util.h"
#include "core/encoding.h"
#include "tests/support/memory_state_store.h"

namespace sealgate::appliance::breakglass {
namespace {

using namespace fakes;  // NOLINT(google-build-using-namespace): the folder's test doubles

using nlohmann::json;

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kAdminAlice = "spiffe://sealgate-admin/admin/alice";
const std::string kApprover = "spiffe://sealgate-admin/approver/";

class BreakGlassTest : public ::testing::Test {
 protected:
  BreakGlassTest() {
    verifier_.enrolled = {{"alice", "fp-alice"}, {"bob", "fp-bob"}, {"carol", "fp-carol"}, {"dave", "fp-dave"}};
    settings_.quorum = 2;
    settings_.requestTtlSeconds = 600;
  }

  Ask ask(Mode mode = Mode::PdpOutage) {
    Ask a;
    a.tenant = "acme";
    a.uriPrefixes = {"secret://acme/kv/payments"};
    a.actions = {"use"};
    a.mode = mode;
    a.reason = "INC-1";
    a.durationSeconds = 300;
    return a;
  }

  Result<BreakGlass::ApprovalOutcome> approve(BreakGlass& bg, const std::string& who, const Request& r,
                                              std::int64_t at = kNow + 10) {
    const auto quote = ScriptedVerifier::quoteFor(r);
    const std::vector<std::uint8_t> signature{1, 2, 3};
    return bg.approve(kApprover + who, r.id, quote, signature, at);
  }

  MemoryStateStore state_;
  ScriptedVerifier verifier_;
  Settings settings_;
};

TEST_F(BreakGlassTest, TwoOfThreeOpenTheWindowOneDoesNot) {
  BreakGlass bg(state_, verifier_, settings_);
  auto r = bg.create(kAdminAlice, ask(), kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->state, State::Pending);
  EXPECT_EQ(r->expiresAt, kNow + 600);

  auto first = approve(bg, "bob", *r);
  ASSERT_TRUE(first) << first.error().describe();
  EXPECT_FALSE(first->opened);
  EXPECT_FALSE(bg.windowOpen(r->id, kNow + 11));
  EXPECT_FALSE(bg.windowFor("acme", "secret://acme/kv/payments/stripe", "use", false, kNow + 11));

  auto second = approve(bg, "carol", *r, kNow + 20);
  ASSERT_TRUE(second) << second.error().describe();
  EXPECT_TRUE(second->opened);
  EXPECT_EQ(second->request.state, State::Open);
  EXPECT_EQ(second->request.opensAt, kNow + 20);
  EXPECT_EQ(second->request.endsAt, kNow + 20 + 300);
  EXPECT_TRUE(bg.windowOpen(r->id, kNow + 21));
  EXPECT_EQ(bg.openWindows(kNow + 21), 1u);

  // A third approval after the quorum is refused: the request is open.
  EXPECT_EQ(approve(bg, "dave", *r, kNow + 30).error().code, ErrorCode::BreakglassRequestClosed);
}

TEST_F(BreakGlassTest, RefusalsChangeNothing) {
  BreakGlass bg(state_, verifier_, settings_);
  auto r = bg.create(kAdminAlice, ask(), kNow);
  ASSERT_TRUE(r);
  const std::string before = state_.records(kRequestRecordKind).at(0).dataJson;

  // The requester's own person, under the approver role.
  EXPECT_EQ(approve(bg, "alice", *r).error().code, ErrorCode::ApprovalSelf);
  // Not enrolled.
  EXPECT_EQ(approve(bg, "mallory", *r).error().code, ErrorCode::ApproverNotEnrolled);
  // A quote made for another request (its qualifying data differs).
  auto other = bg.create(kAdminAlice, ask(), kNow);
  ASSERT_TRUE(other);
  const auto otherQuote = ScriptedVerifier::quoteFor(*other);
  EXPECT_FALSE(bg.approve(kApprover + "bob", r->id, otherQuote, std::vector<std::uint8_t>{1}, kNow + 10));
  // Unknown request.
  EXPECT_EQ(bg.approve(kApprover + "bob", "ffff", otherQuote, std::vector<std::uint8_t>{1}, kNow + 10).error().code,
            ErrorCode::BreakglassRequestUnknown);
  // A verifier failure (e.g. PCR drift) is passed through.
  verifier_.failWith = ErrorCode::QuoteNotFresh;
  EXPECT_EQ(approve(bg, "bob", *r).error().code, ErrorCode::QuoteNotFresh);
  verifier_.failWith.reset();

  EXPECT_EQ(state_.records(kRequestRecordKind).size(), 2u);
  for (const auto& rec : state_.records(kRequestRecordKind)) {
    if (rec.id == r->id) {
      EXPECT_EQ(rec.dataJson, before);
    }
  }
  EXPECT_TRUE(bg.find(r->id)->approvals.empty());

  // A duplicate approval: the second is refused and the first stays the only one.
  ASSERT_TRUE(approve(bg, "bob", *r));
  EXPECT_EQ(approve(bg, "bob", *r, kNow + 11).error().code, ErrorCode::ApprovalDuplicate);
  EXPECT_EQ(bg.find(r->id)->approvals.size(), 1u);
  EXPECT_FALSE(bg.windowOpen(r->id, kNow + 12));
}

TEST_F(BreakGlassTest, PersonsMapNamesAcrossRoles) {
  settings_.persons = {{"approver/al", "alice"}};
  BreakGlass bg(state_, verifier_, settings_);
  verifier_.enrolled["al"] = "fp-al";
  auto r = bg.create(kAdminAlice, ask(), kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(approve(bg, "al", *r).error().code, ErrorCode::ApprovalSelf);
  EXPECT_EQ(personOf(settings_, "spiffe://sealgate-admin/admin/bob"), "bob");
  // One person under two approver names approves once.
  settings_.persons["approver/bob2"] = "bob";
  BreakGlass twoNames(state_, verifier_, settings_);
  verifier_.enrolled["bob2"] = "fp-bob2";
  auto r2 = twoNames.create(kAdminAlice, ask(), kNow);
  ASSERT_TRUE(r2);
  ASSERT_TRUE(approve(twoNames, "bob", *r2));
  EXPECT_EQ(approve(twoNames, "bob2", *r2, kNow + 11).error().code, ErrorCode::ApprovalDuplicate);
  EXPECT_FALSE(twoNames.windowOpen(r2->id, kNow + 12));
  EXPECT_EQ(personOf(settings_, "spiffe://sealgate-admin/approver/al"), "alice");
}

TEST_F(BreakGlassTest, AnExpiredRequestTakesNoApproval) {
  BreakGlass bg(state_, verifier_, settings_);
  auto r = bg.create(kAdminAlice, ask(), kNow);
  ASSERT_TRUE(r);
  ASSERT_TRUE(approve(bg, "bob", *r, kNow + 10));
  EXPECT_EQ(approve(bg, "carol", *r, kNow + 600).error().code, ErrorCode::BreakglassRequestExpired);
  EXPECT_FALSE(bg.windowOpen(r->id, kNow + 600));
  auto settled = bg.settle(kNow + 601);
  ASSERT_TRUE(settled);
  EXPECT_TRUE(settled->empty());  // no window ended: it never opened
  EXPECT_EQ(bg.find(r->id)->state, State::Expired);
}

TEST_F(BreakGlassTest, AnOlderQuoteOfTheSameKeyIsNotFresh) {
  BreakGlass bg(state_, verifier_, settings_);
  auto r1 = bg.create(kAdminAlice, ask(), kNow);
  auto r2 = bg.create(kAdminAlice, ask(), kNow);
  ASSERT_TRUE(r1 && r2);
  verifier_.nextClock = 500;
  ASSERT_TRUE(approve(bg, "bob", *r1));
  verifier_.nextClock = 400;  // a quote made earlier, kept and posted later
  EXPECT_EQ(approve(bg, "bob", *r2).error().code, ErrorCode::QuoteNotFresh);
  verifier_.nextClock = 501;
  EXPECT_TRUE(approve(bg, "bob", *r2));
}

TEST_F(BreakGlassTest, ModesScopeAndTheWindowsEnd) {
  BreakGlass bg(state_, verifier_, settings_);
  auto outage = bg.create(kAdminAlice, ask(Mode::PdpOutage), kNow);
  ASSERT_TRUE(outage);
  ASSERT_TRUE(approve(bg, "bob", *outage));
  ASSERT_TRUE(approve(bg, "carol", *outage));
  const std::int64_t t = kNow + 20;
  const std::string uri = "secret://acme/kv/payments/stripe#api_key";
  EXPECT_TRUE(bg.windowFor("acme", uri, "use", /*pdpDenied=*/false, t));
  EXPECT_FALSE(bg.windowFor("acme", uri, "use", /*pdpDenied=*/true, t));  // pdp_outage does not override a deny
  EXPECT_FALSE(bg.windowFor("acme", "secret://acme/kv/payroll/x", "use", false, t));
  EXPECT_FALSE(bg.windowFor("acme", uri, "reveal", false, t));
  EXPECT_FALSE(bg.windowFor("globex", uri, "use", false, t));

  auto override = bg.create(kAdminAlice, ask(Mode::Override), kNow);
  ASSERT_TRUE(override);
  ASSERT_TRUE(approve(bg, "bob", *override));
  ASSERT_TRUE(approve(bg, "dave", *override));
  auto w = bg.windowFor("acme", uri, "use", /*pdpDenied=*/true, t);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->id, override->id);

  // Closed early by an admin: its grants are refused from then on.
  EXPECT_EQ(bg.close("ffff", kAdminAlice, t).error().code, ErrorCode::BreakglassRequestUnknown);
  auto closed = bg.close(override->id, "spiffe://sealgate-admin/admin/erin", t + 1);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->endedBy, "spiffe://sealgate-admin/admin/erin");
  EXPECT_FALSE(bg.windowOpen(override->id, t + 1));
  EXPECT_EQ(bg.close(override->id, kAdminAlice, t + 2).error().code, ErrorCode::BreakglassNotOpen);
  EXPECT_FALSE(bg.windowFor("acme", uri, "use", true, t + 2));

  // The other ends by itself at endsAt; settle stores it and reports it once.
  const std::int64_t end = bg.find(outage->id)->endsAt;
  EXPECT_TRUE(bg.windowOpen(outage->id, end - 1));
  EXPECT_FALSE(bg.windowOpen(outage->id, end));
  auto ended = bg.settle(end);
  ASSERT_TRUE(ended);
  ASSERT_EQ(ended->size(), 1u);
  EXPECT_EQ(ended->at(0).endedBy, "expiry");
  EXPECT_TRUE(bg.settle(end + 1)->empty());
}

TEST_F(BreakGlassTest, EverythingSurvivesARestart) {
  std::string id;
  {
    BreakGlass bg(state_, verifier_, settings_);
    auto r = bg.create(kAdminAlice, ask(), kNow);
    ASSERT_TRUE(r);
    id = r->id;
    verifier_.nextClock = 900;
    ASSERT_TRUE(approve(bg, "bob", *r));
  }
  BreakGlass again(state_, verifier_, settings_);
  ASSERT_TRUE(again.load());
  auto r = again.find(id);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->approvals.size(), 1u);
  EXPECT_EQ(ScriptedVerifier::quoteFor(*r), ScriptedVerifier::quoteFor(*again.find(id)));
  // The duplicate check and bob's last quote clock came back with it.
  EXPECT_EQ(approve(again, "bob", *r).error().code, ErrorCode::ApprovalDuplicate);
  auto r2 = again.create(kAdminAlice, ask(), kNow);
  ASSERT_TRUE(r2);
  verifier_.nextClock = 5;
  EXPECT_EQ(approve(again, "bob", *r2).error().code, ErrorCode::QuoteNotFresh);
  ASSERT_TRUE(approve(again, "carol", *r));
  BreakGlass third(state_, verifier_, settings_);
  ASSERT_TRUE(third.load());
  EXPECT_TRUE(third.windowOpen(id, kNow + 30));
}

// A state store whose record writes fail on demand.
class FailingRecords : public MemoryStateStore {
 public:
  bool failing = false;
  Result<void> putRecord(const Record& record) override {
    if (failing) return makeError(ErrorCode::StateUnavailable, "the test state is failing");
    return MemoryStateStore::putRecord(record);
  }
};

TEST_F(BreakGlassTest, AFailedWriteChangesNothing) {
  FailingRecords state;
  BreakGlass bg(state, verifier_, settings_);
  state.failing = true;
  EXPECT_EQ(bg.create(kAdminAlice, ask(), kNow).error().code, ErrorCode::StateUnavailable);
  EXPECT_TRUE(bg.list().empty());
  state.failing = false;
  auto r = bg.create(kAdminAlice, ask(), kNow);
  ASSERT_TRUE(r);
  ASSERT_TRUE(approve(bg, "bob", *r));
  state.failing = true;
  EXPECT_EQ(approve(bg, "carol", *r).error().code, ErrorCode::StateUnavailable);
  EXPECT_FALSE(bg.windowOpen(r->id, kNow + 11));
  EXPECT_EQ(bg.find(r->id)->approvals.size(), 1u);
  state.failing = false;
  // Carol's quote was not recorded, so the same approval (a fresh quote) goes through now.
  auto opened = approve(bg, "carol", *r);
  ASSERT_TRUE(opened) << opened.error().describe();
  EXPECT_TRUE(opened->opened);
  state.failing = true;
  EXPECT_EQ(bg.close(r->id, kAdminAlice, kNow + 12).error().code, ErrorCode::StateUnavailable);
  EXPECT_TRUE(bg.windowOpen(r->id, kNow + 12));
}

TEST_F(BreakGlassTest, ARecordUnderAnotherIdIsTampering) {
  BreakGlass bg(state_, verifier_, settings_);
  auto r = bg.create(kAdminAlice, ask(), kNow);
  ASSERT_TRUE(r);
  const std::string data = state_.records(kRequestRecordKind).at(0).dataJson;
  ASSERT_TRUE(state_.putRecord({kRequestRecordKind, "another-id", data}));
  BreakGlass again(state_, verifier_, settings_);
  EXPECT_EQ(again.load().error().code, ErrorCode::StateTampered);
}

}  // namespace
}  // namespace sealgate::appliance::breakglass
