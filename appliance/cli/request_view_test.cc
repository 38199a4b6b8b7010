// `sealgate approve`'s reconstruction of what it signs: the server's view of a
// request (breakglass::toApiJson, the real serializer) rebuilt into a
// breakglass::Request whose digest and qualifying data equal the server's,
// and every tampered, missing or mistyped field refused before a TPM is used.
#include "appliance/cli/request_view.h"

#include <gtest/gtest.h>

#include "core/encoding.h"

namespace sealgate::appliance {
namespace {

using breakglass::Mode;
using breakglass::Request;
using nlohmann::json;

constexpr std::int64_t kNow = 1'900'000'000;

Request sampleRequest() {
  Request r;
  r.id = "0123456789abcdef0123456789abcdef";
  r.requester = "spiffe://sealgate-admin/admin/alice";
  r.ask.tenant = "acme";
  r.ask.uriPrefixes = {"secret://acme/kv/app", "secret://acme/kv/db/main"};
  r.ask.actions = {"read", "use"};
  r.ask.mode = Mode::PdpOutage;
  r.ask.reason = "PDP cluster down, INC-4711";
  r.ask.durationSeconds = 900;
  r.createdAt = kNow - 10;
  r.expiresAt = kNow + 890;
  for (std::size_t i = 0; i < r.nonce.size(); ++i) r.nonce[i] = static_cast<std::uint8_t>(0xa0 + i);
  return r;
}

json viewOf(const Request& r) { return breakglass::toApiJson(r, kNow, 2); }

ErrorCode refusal(const json& view, const std::string& id = sampleRequest().id) {
  auto r = approvableRequest(view, id);
  return r ? ErrorCode::Internal : r.error().code;
}

TEST(RequestViewTest, RebuildsWhatTheServerSignsFromItsView) {
  const Request original = sampleRequest();
  auto rebuilt = approvableRequest(viewOf(original), original.id);
  ASSERT_TRUE(rebuilt) << rebuilt.error().describe();
  EXPECT_EQ(breakglass::canonicalEncoding(*rebuilt), breakglass::canonicalEncoding(original));
  EXPECT_EQ(breakglass::requestDigest(*rebuilt), breakglass::requestDigest(original));
  // The TPM quotes SHA-256(digest ‖ nonce): the nonce comes from the view too.
  EXPECT_EQ(breakglass::qualifyingData(*rebuilt), breakglass::qualifyingData(original));

  Request override = original;
  override.ask.mode = Mode::Override;
  auto rebuiltOverride = approvableRequest(viewOf(override), override.id);
  ASSERT_TRUE(rebuiltOverride);
  EXPECT_EQ(rebuiltOverride->ask.mode, Mode::Override);
  EXPECT_EQ(breakglass::requestDigest(*rebuiltOverride), breakglass::requestDigest(override));
}

// An approver change (after bootstrap, enrolling or removing an approver is
// itself a request): the approver's name is in the digest.
Request approverChange(Mode mode) {
  Request r = sampleRequest();
  r.ask = breakglass::Ask{};
  r.ask.mode = mode;
  r.ask.approver = "dave";
  r.ask.reason = "dave joins the on-call rota";
  r.ask.durationSeconds = 900;
  return r;
}

TEST(RequestViewTest, RebuildsApproverChanges) {
  for (const Mode mode : {Mode::EnrolApprover, Mode::RemoveApprover}) {
    const Request original = approverChange(mode);
    auto rebuilt = approvableRequest(viewOf(original), original.id);
    ASSERT_TRUE(rebuilt) << rebuilt.error().describe();
    EXPECT_EQ(rebuilt->ask.mode, mode);
    EXPECT_EQ(rebuilt->ask.approver, "dave");
    EXPECT_EQ(breakglass::requestDigest(*rebuilt), breakglass::requestDigest(original));
    EXPECT_EQ(breakglass::qualifyingData(*rebuilt), breakglass::qualifyingData(original));
    const std::string text = describeForApproval(*rebuilt, viewOf(original));
    EXPECT_NE(text.find("dave"), std::string::npos) << text;
    EXPECT_NE(text.find(breakglass::modeName(mode)), std::string::npos) << text;

    json renamed = viewOf(original);
    renamed["approver"] = "mallory";
    EXPECT_EQ(refusal(renamed), ErrorCode::RequestDigestMismatch);
    json flipped = viewOf(original);
    flipped["mode"] = mode == Mode::EnrolApprover ? "remove_approver" : "enrol_approver";
    EXPECT_EQ(refusal(flipped), ErrorCode::RequestDigestMismatch);
    json missing = viewOf(original);
    missing.erase("approver");
    EXPECT_EQ(refusal(missing), ErrorCode::InvalidRequest);
    json mistyped = viewOf(original);
    mistyped["approver"] = json::array({"dave"});
    EXPECT_EQ(refusal(mistyped), ErrorCode::InvalidRequest);
  }
  // An access request that shows an approver: a name the digest does not cover.
  json view = viewOf(sampleRequest());
  view["approver"] = "dave";
  EXPECT_EQ(refusal(view), ErrorCode::InvalidRequest);
}

// A server that shows one request and gives the digest of another: each field
// of the encoding, changed in what is shown, is refused.
TEST(RequestViewTest, EveryTamperedFieldIsRefused) {
  const json good = viewOf(sampleRequest());
  const std::vector<std::pair<std::string, json>> tampered = {
      {"requester", "spiffe://sealgate-admin/admin/mallory"},
      {"tenant", "globex"},
      {"uri_prefixes", json::array({"secret://acme/kv"})},
      {"uri_prefixes", json::array({"secret://acme/kv/db/main", "secret://acme/kv/app"})},  // order
      {"actions", json::array({"read", "use", "write"})},
      {"mode", "override"},
      {"reason", "PDP cluster down, INC-4712"},
      {"duration_seconds", 86400},
      {"expires_at", kNow + 891},
  };
  for (const auto& [field, value] : tampered) {
    SCOPED_TRACE(field + " = " + value.dump());
    json view = good;
    view[field] = value;
    EXPECT_EQ(refusal(view), ErrorCode::RequestDigestMismatch);
  }
  // The shown digest itself replaced (by the digest of another request).
  json view = good;
  Request other = sampleRequest();
  other.ask.reason = "something else";
  view["digest"] = hexLower(breakglass::requestDigest(other));
  EXPECT_EQ(refusal(view), ErrorCode::RequestDigestMismatch);
}

TEST(RequestViewTest, MissingOrMistypedFieldsAreRefused) {
  const json good = viewOf(sampleRequest());
  for (const char* field : {"id", "requester", "tenant", "uri_prefixes", "actions", "mode", "reason",
                            "duration_seconds", "expires_at", "digest", "state", "nonce"}) {
    SCOPED_TRACE(field);
    json missing = good;
    missing.erase(field);
    EXPECT_EQ(refusal(missing), ErrorCode::InvalidRequest);
    json mistyped = good;
    mistyped[field] = json::object();
    EXPECT_EQ(refusal(mistyped), ErrorCode::InvalidRequest);
  }
  const std::vector<std::pair<std::string, json>> bad = {
      {"mode", "PDP_OUTAGE"},
      {"mode", ""},
      {"uri_prefixes", json::array({"secret://acme/kv/app", 7})},
      {"actions", json::array({nullptr})},
      {"duration_seconds", -1},
      {"duration_seconds", 1.5},
      {"duration_seconds", "900"},
      {"expires_at", 18446744073709551615ull},  // past int64
      {"digest", "00"},
      {"digest", std::string(64, 'g')},
      {"nonce", std::string(62, 'a')},
      {"nonce", std::string(66, 'a')},
      {"nonce", std::string(64, 'z')},
  };
  for (const auto& [field, value] : bad) {
    SCOPED_TRACE(field + " = " + value.dump());
    json view = good;
    view[field] = value;
    EXPECT_EQ(refusal(view), ErrorCode::InvalidRequest);
  }
  EXPECT_EQ(refusal(json::array()), ErrorCode::InvalidRequest);
  EXPECT_EQ(refusal("request"), ErrorCode::InvalidRequest);
}

TEST(RequestViewTest, AnotherRequestThanTheOneAskedForIsRefused) {
  EXPECT_EQ(refusal(viewOf(sampleRequest()), "ffffffffffffffffffffffffffffffff"), ErrorCode::InvalidRequest);
}

TEST(RequestViewTest, ARequestThatTakesNoApprovalsIsRefused) {
  Request r = sampleRequest();
  EXPECT_EQ(refusal(breakglass::toApiJson(r, r.expiresAt, 2)), ErrorCode::BreakglassRequestExpired);
  r.state = breakglass::State::Open;
  r.opensAt = kNow;
  r.endsAt = kNow + 900;
  EXPECT_EQ(refusal(viewOf(r)), ErrorCode::BreakglassRequestClosed);
  r.state = breakglass::State::Ended;
  r.endedBy = "spiffe://sealgate-admin/admin/alice";
  EXPECT_EQ(refusal(viewOf(r)), ErrorCode::BreakglassRequestClosed);
  // A pending view without its nonce cannot be approved either.
  json view = viewOf(sampleRequest());
  view.erase("nonce");
  EXPECT_EQ(refusal(view), ErrorCode::InvalidRequest);
}

TEST(RequestViewTest, TerminalSafeEscapesControlCharacters) {
  EXPECT_EQ(terminalSafe("plain text, ünïcödé"), "plain text, ünïcödé");
  EXPECT_EQ(terminalSafe("a\x1b[2Jb"), "a\\x1b[2Jb");
  EXPECT_EQ(terminalSafe("line\nnext\r"), "line\\x0anext\\x0d");
  EXPECT_EQ(terminalSafe("del\x7f"), "del\\x7f");
  EXPECT_EQ(terminalSafe("c1 \xc2\x9b"
                         "31m"),
            "c1 \\xc2\\x9b31m");
  EXPECT_EQ(terminalSafe(std::string("nul\0x", 5)), "nul\\x00x");
}

TEST(RequestViewTest, TheReviewShowsEveryDigestFieldEscaped) {
  Request r = sampleRequest();
  r.ask.reason = "outage\x1b[1A";
  const std::string text = describeForApproval(r, viewOf(r));
  for (const std::string& shown : {r.id, r.requester, r.ask.tenant, r.ask.uriPrefixes[0], r.ask.uriPrefixes[1],
                                   std::string("read, use"), std::string("pdp_outage"), std::string("900 s"),
                                   hexLower(breakglass::requestDigest(r)), utcTime(r.expiresAt)}) {
    EXPECT_NE(text.find(shown), std::string::npos) << shown << " missing from:\n" << text;
  }
  EXPECT_NE(text.find("outage\\x1b[1A"), std::string::npos);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_EQ(utcTime(0), "1970-01-01 00:00:00 UTC");
}

}  // namespace
}  // namespace sealgate::appliance
