#include "appliance/breakglass/request.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include "core/encoding.h"

namespace sealgate::appliance::breakglass {
namespace {

using nlohmann::json;

json goodBody() {
  return {{"tenant", "acme"},
          {"uri_prefixes", {"secret://acme/kv/payments", "secret://acme/db"}},
          {"actions", {"use", "reveal"}},
          {"mode", "pdp_outage"},
          {"reason", "INC-4711: the PDP cluster is down"},
          {"duration_seconds", 900u}};
}

ErrorCode refusal(const json& body) {
  auto ask = parseAsk(body, 3600);
  EXPECT_FALSE(ask) << body.dump();
  return ask ? ErrorCode::Internal : ask.error().code;
}

TEST(BreakGlassAsk, AGoodBodyIsNormalized) {
  json body = goodBody();
  body["uri_prefixes"].push_back("secret://ACME/kv/payments");  // the same prefix, not canonical
  body["actions"].push_back("use");
  auto ask = parseAsk(body, 3600);
  ASSERT_TRUE(ask) << ask.error().describe();
  EXPECT_EQ(ask->tenant, "acme");
  EXPECT_EQ(ask->uriPrefixes, (std::vector<std::string>{"secret://acme/db", "secret://acme/kv/payments"}));
  EXPECT_EQ(ask->actions, (std::vector<std::string>{"reveal", "use"}));
  EXPECT_EQ(ask->mode, Mode::PdpOutage);
  EXPECT_EQ(ask->durationSeconds, 900);
  body["mode"] = "override";
  EXPECT_EQ(parseAsk(body, 3600)->mode, Mode::Override);
}

TEST(BreakGlassAsk, EveryMalformedFieldIsRefused) {
  EXPECT_EQ(refusal(json::array()), ErrorCode::InvalidRequest);
  for (const char* field : {"tenant", "uri_prefixes", "actions", "mode", "reason", "duration_seconds"}) {
    json b = goodBody();
    b.erase(field);
    EXPECT_EQ(refusal(b), ErrorCode::InvalidRequest) << "missing " << field;
  }
  const std::vector<std::pair<const char*, json>> bad = {
      {"tenant", 7},
      {"tenant", "Not A Tenant"},
      {"uri_prefixes", json::array()},
      {"uri_prefixes", "secret://acme/kv/payments"},
      {"uri_prefixes", {""}},
      {"uri_prefixes", {1}},
      {"uri_prefixes", {"secret://acme/kv/payments?version=2"}},
      {"uri_prefixes", {"secret://acme/kv/payments#field"}},
      {"actions", json::array()},
      {"actions", {"Use"}},
      {"actions", {"use me"}},
      {"actions", {""}},
      {"mode", "always"},
      {"mode", 1},
      {"reason", ""},
      {"reason", std::string(kMaxReasonBytes + 1, 'x')},
      {"reason", "line\nbreak"},
      {"duration_seconds", 0u},
      {"duration_seconds", 3601u},
      {"duration_seconds", -5},
      {"duration_seconds", 1.5},
      {"duration_seconds", "900"},
  };
  for (const auto& [field, value] : bad) {
    json b = goodBody();
    b[field] = value;
    EXPECT_EQ(refusal(b), ErrorCode::InvalidRequest) << field << " = " << value.dump();
  }
  json extra = goodBody();
  extra["grant_everything"] = true;
  EXPECT_EQ(refusal(extra), ErrorCode::UnknownField);
  json many = goodBody();
  many["uri_prefixes"] = json::array();
  for (std::size_t i = 0; i <= kMaxPrefixes; ++i)
    many["uri_prefixes"].push_back("secret://acme/kv/p" + std::to_string(i));
  EXPECT_EQ(refusal(many), ErrorCode::InvalidRequest);
}

TEST(BreakGlassAsk, PrefixesMustBeSecretUrisOfTheRequestsTenant) {
  json b = goodBody();
  b["uri_prefixes"] = {"secret://globex/kv/payments"};
  EXPECT_EQ(refusal(b), ErrorCode::UriTenantMismatch);
  b["uri_prefixes"] = {"https://acme/kv/payments"};
  EXPECT_EQ(refusal(b), ErrorCode::UriScheme);
  b["uri_prefixes"] = {"secret://acme/kv/../payments"};
  EXPECT_NE(refusal(b), ErrorCode::Internal);
  b["uri_prefixes"] = {"secret://acme"};
  EXPECT_NE(refusal(b), ErrorCode::Internal);
  json canary = goodBody();
  canary["uri_prefixes"] = {"secret://globex/kv/canary-9d2f"};
  auto refused = parseAsk(canary, 3600);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message.find("canary-9d2f"), std::string::npos);  // never echoes a URI
}

Request sampleRequest() {
  Request r;
  r.id = "00112233445566778899aabbccddeeff";
  r.requester = "spiffe://sealgate-admin/admin/alice";
  r.ask = *parseAsk(goodBody(), 3600);
  r.createdAt = 1'800'000'000;
  r.expiresAt = 1'800'000'900;
  for (std::size_t i = 0; i < r.nonce.size(); ++i) r.nonce[i] = static_cast<std::uint8_t>(i);
  return r;
}

TEST(BreakGlassDigest, TheEncodingIsTheDocumentedOne) {
  const Request r = sampleRequest();
  const std::string enc = canonicalEncoding(r);
  // BREAKGLASS.md, "The request digest": a label, NUL, then each field as a
  // 4-byte big-endian length and its bytes, lists as their count (a decimal
  // field) and items, the two numbers as 8-byte big-endian integers.
  auto field = [](std::string_view s) {
    std::string out;
    const auto n = static_cast<std::uint32_t>(s.size());
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
    return out.append(s);
  };
  auto u64 = [](std::uint64_t v) {
    std::string out;
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
    return out;
  };
  const std::string expected =
      std::string("sealgate-breakglass-request/1") + '\0' + field(r.id) + field(r.requester) + field("acme") +
      field("2") + field("secret://acme/db") + field("secret://acme/kv/payments") + field("2") + field("reveal") +
      field("use") + field("pdp_outage") + field("INC-4711: the PDP cluster is down") + u64(900) + u64(1'800'000'900);
  EXPECT_EQ(enc, expected);
  std::array<std::uint8_t, 32> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(), digest.data());
  EXPECT_EQ(requestDigest(r), digest);
  std::string both(digest.begin(), digest.end());
  both.append(r.nonce.begin(), r.nonce.end());
  std::array<std::uint8_t, 32> qualifying{};
  SHA256(reinterpret_cast<const unsigned char*>(both.data()), both.size(), qualifying.data());
  EXPECT_EQ(qualifyingData(r), qualifying);
}

TEST(BreakGlassDigest, EveryApprovedFieldChangesTheDigest) {
  const Request base = sampleRequest();
  const auto d = requestDigest(base);
  std::vector<Request> changed(9, base);
  changed[0].id[0] = 'f';
  changed[1].requester += "x";
  changed[2].ask.tenant = "globex";
  changed[3].ask.uriPrefixes.pop_back();
  changed[4].ask.actions = {"use"};
  changed[5].ask.mode = Mode::Override;
  changed[6].ask.reason += ".";
  changed[7].ask.durationSeconds += 1;
  changed[8].expiresAt += 1;
  for (std::size_t i = 0; i < changed.size(); ++i) EXPECT_NE(requestDigest(changed[i]), d) << i;
  // Field boundaries are unambiguous: moving a byte from one field to the next changes it.
  Request shifted = base;
  shifted.ask.uriPrefixes = {"secret://acme/dbsecret://acme/kv/payments"};
  EXPECT_NE(requestDigest(shifted), d);
  // The nonce is not in the digest but is in the qualifying data.
  Request renonced = base;
  renonced.nonce[0] ^= 1;
  EXPECT_EQ(requestDigest(renonced), d);
  EXPECT_NE(qualifyingData(renonced), qualifyingData(base));
}

TEST(BreakGlassScope, WholeSegmentsOfTheTenantsPrefixesAndOnlyTheActions) {
  const Ask ask = sampleRequest().ask;
  EXPECT_TRUE(inScope(ask, "secret://acme/kv/payments", "use"));
  EXPECT_TRUE(inScope(ask, "secret://acme/kv/payments/stripe?version=3#api_key", "use"));
  EXPECT_TRUE(inScope(ask, "secret://acme/kv/payments#api_key", "reveal"));
  EXPECT_TRUE(inScope(ask, "secret://acme/db/orders", "use"));  // a mount-wide prefix
  EXPECT_FALSE(inScope(ask, "secret://acme/kv/paymentsx/stripe", "use"));
  EXPECT_FALSE(inScope(ask, "secret://acme/kv/payroll", "use"));
  EXPECT_FALSE(inScope(ask, "secret://acme/dbx/orders", "use"));
  EXPECT_FALSE(inScope(ask, "secret://acme/kv", "use"));
  EXPECT_FALSE(inScope(ask, "secret://acme/kv/payments/stripe", "delegate"));
  EXPECT_FALSE(inScope(ask, "secret://globex/kv/payments/stripe", "use"));
}

TEST(BreakGlassRecord, RoundTripsAndTheApiViewHidesTheNonceOnceNotPending) {
  Request r = sampleRequest();
  r.approvals.push_back(Approval{"bob", "fp-b", 1'800'000'100, QuoteClock{77, 2, 3}});
  auto back = fromRecord(toRecord(r));
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_EQ(toRecord(*back), toRecord(r));
  EXPECT_EQ(requestDigest(*back), requestDigest(r));
  EXPECT_EQ(back->approvals[0].clock.clock, 77u);

  json pending = toApiJson(r, r.createdAt + 1, 2);
  EXPECT_EQ(pending["state"], "pending");
  EXPECT_EQ(pending["nonce"], hexLower(r.nonce));
  EXPECT_EQ(pending["digest"], hexLower(requestDigest(r)));
  EXPECT_EQ(pending["approvals_needed"], 1);
  EXPECT_EQ(toApiJson(r, r.expiresAt, 2)["state"], "expired");
  EXPECT_FALSE(toApiJson(r, r.expiresAt, 2).contains("nonce"));

  json broken = toRecord(r);
  broken.erase("nonce");
  EXPECT_EQ(fromRecord(broken).error().code, ErrorCode::StateTampered);
  broken = toRecord(r);
  broken["approvals"] = "nope";
  EXPECT_EQ(fromRecord(broken).error().code, ErrorCode::StateTampered);
}

TEST(BreakGlassAsk, AnApproverChangeNamesTheApproverAndNothingElse) {
  const json change = {{"mode", "enrol_approver"},
                       {"approver", "dave"},
                       {"reason", "a new approver for the night shift"},
                       {"duration_seconds", 600u}};
  auto ask = parseAsk(change, 3600);
  ASSERT_TRUE(ask) << ask.error().describe();
  EXPECT_EQ(ask->mode, Mode::EnrolApprover);
  EXPECT_EQ(ask->approver, "dave");
  EXPECT_TRUE(ask->tenant.empty());
  EXPECT_TRUE(ask->uriPrefixes.empty());
  EXPECT_TRUE(isApproverChange(ask->mode));
  EXPECT_FALSE(isApproverChange(Mode::Override));

  json withScope = change;
  withScope["tenant"] = "acme";
  EXPECT_EQ(refusal(withScope), ErrorCode::UnknownField);
  json noApprover = change;
  noApprover.erase("approver");
  EXPECT_EQ(refusal(noApprover), ErrorCode::InvalidRequest);
  for (const json& bad : {json("Dave"), json(""), json(7), json("../x")}) {
    json badName = change;
    badName["approver"] = bad;
    EXPECT_EQ(refusal(badName), ErrorCode::InvalidRequest) << bad.dump();
  }
  json accessWithApprover = goodBody();
  accessWithApprover["approver"] = "dave";
  EXPECT_EQ(refusal(accessWithApprover), ErrorCode::UnknownField);
  json unknownMode = change;
  unknownMode["mode"] = "add_approver";
  EXPECT_EQ(refusal(unknownMode), ErrorCode::InvalidRequest);

  // The approver's name is approved (in the digest), and the record keeps it.
  Request r = sampleRequest();
  r.ask = *ask;
  Request other = r;
  other.ask.approver = "eve";
  EXPECT_NE(requestDigest(r), requestDigest(other));
  Request removal = r;
  removal.ask.mode = Mode::RemoveApprover;
  EXPECT_NE(requestDigest(r), requestDigest(removal));
  auto back = fromRecord(toRecord(r));
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_EQ(back->ask.approver, "dave");
  EXPECT_EQ(toApiJson(r, r.createdAt, 2)["approver"], "dave");
  EXPECT_FALSE(inScope(r.ask, "secret://acme/kv/payments/x", "use"));
}

TEST(BreakGlassClock, ResetThenRestartThenClockInThatOrder) {
  const QuoteClock base{1000, 5, 5};
  EXPECT_TRUE((QuoteClock{1001, 5, 5}).isAfter(base));
  EXPECT_FALSE((QuoteClock{1000, 5, 5}).isAfter(base));  // the same quote again
  EXPECT_FALSE((QuoteClock{999, 5, 5}).isAfter(base));
  EXPECT_TRUE((QuoteClock{1, 5, 6}).isAfter(base));      // a restart: the clock may be lower
  EXPECT_TRUE((QuoteClock{1, 6, 0}).isAfter(base));      // a reset
  EXPECT_FALSE((QuoteClock{5000, 4, 9}).isAfter(base));  // an older reset, whatever the clock
}

}  // namespace
}  // namespace sealgate::appliance::breakglass
