#include "core/jws.h"

#include <gtest/gtest.h>

#include <fstream>

namespace sealgate {
namespace {

using nlohmann::json;

std::string b64(std::string_view s) { return base64UrlNoPad(asBytes(s)); }

TEST(Jws, WycheproofEs256P1363) {
  std::ifstream in(std::string(SEALGATE_WYCHEPROOF_DIR) + "/ecdsa_secp256r1_sha256_p1363_test.json");
  ASSERT_TRUE(in) << "missing Wycheproof vectors";
  json doc = json::parse(in, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  int total = 0, valid = 0, invalid = 0, acceptable = 0, jwkGroups = 0;
  for (const auto& group : doc["testGroups"]) {
    const Bytes spki = *decodeHex(group["publicKeyDer"].get<std::string>());
    if (group.contains("publicKeyJwk")) {
      auto jwk = parseEcP256Jwk(group["publicKeyJwk"]);
      ASSERT_TRUE(jwk.ok()) << jwk.error().describe();
      EXPECT_EQ(ecP256Spki(*jwk), spki);  // the JWK path yields the same key
      ++jwkGroups;
    }
    for (const auto& t : group["tests"]) {
      ++total;
      const Bytes msg = *decodeHex(t["msg"].get<std::string>());
      const Bytes sig = *decodeHex(t["sig"].get<std::string>());
      const bool ok =
          verifyEs256Spki(spki, std::string_view(reinterpret_cast<const char*>(msg.data()), msg.size()), sig);
      if (t["result"] == "valid") {
        ++valid;
        EXPECT_TRUE(ok) << "tcId " << t["tcId"];
      } else if (t["result"] == "invalid") {
        ++invalid;
        EXPECT_FALSE(ok) << "tcId " << t["tcId"];
      } else {
        ++acceptable;
      }
    }
  }
  std::printf("[wycheproof es256 p1363] %d vectors: %d valid, %d invalid, %d acceptable; %d groups with a JWK\n", total,
              valid, invalid, acceptable, jwkGroups);
  EXPECT_EQ(total, doc["numberOfTests"].get<int>());
  EXPECT_GT(valid, 0);
  EXPECT_GT(invalid, 0);
}

TEST(Jws, ParsesThreeSegmentsOfObjects) {
  const std::string token = b64(R"({"alg":"ES256"})") + "." + b64(R"({"a":1})") + "." + b64("sig");
  auto jws = parseCompactJws(token);
  ASSERT_TRUE(jws.ok()) << jws.error().describe();
  EXPECT_EQ(jws->header["alg"], "ES256");
  EXPECT_EQ(jws->payload["a"], 1);
  EXPECT_EQ(jws->signingInput, token.substr(0, token.rfind('.')));
  EXPECT_EQ(jws->signature, (Bytes{'s', 'i', 'g'}));
}

TEST(Jws, RejectsEveryMalformation) {
  const std::string h = b64(R"({"alg":"ES256"})"), p = b64(R"({"a":1})"), s = b64("sig");
  for (const std::string& bad : std::vector<std::string>{
           "", "a.b", h + "." + p, h + "." + p + "." + s + ".x", h + ".." + s, "." + p + "." + s, h + "." + p + ".",
           h + "=." + p + "." + s, "!!." + p + "." + s, b64("[1]") + "." + p + "." + s,
           b64("\"x\"") + "." + p + "." + s, h + "." + b64("{bad") + "." + s, h + "." + b64("{}x") + "." + s,
           h + "." + p + "." + s + "+", std::string(20000, 'a') + "." + p + "." + s}) {
    auto r = parseCompactJws(bad);
    EXPECT_FALSE(r.ok()) << bad.substr(0, 40);
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, jws_errc::kMalformed);
    }
  }
}

TEST(Jwk, ThumbprintMatchesRfc7638ComputedIndependently) {
  // Expected value from Python: sha256 over
  // {"crv":"P-256","kty":"EC","x":b64u(bytes(range(32))),"y":b64u(bytes(range(32,64)))}.
  Bytes x(32), y(32);
  for (int i = 0; i < 32; ++i) {
    x[i] = static_cast<std::uint8_t>(i);
    y[i] = static_cast<std::uint8_t>(32 + i);
  }
  EXPECT_EQ(jwkThumbprint(EcPublicJwk{x, y}), "0r62zgBj277RicA3LnaBKQ5_9RCDIomrlbpWjO0QTG0");
}

TEST(Jwk, RejectsPrivateMembersOtherCurvesAndPointsOffTheCurve) {
  // The P-256 generator: a valid public point.
  const std::string gx = "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY";
  const std::string gy = "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU";
  json good = {{"kty", "EC"}, {"crv", "P-256"}, {"x", gx}, {"y", gy}};
  ASSERT_TRUE(parseEcP256Jwk(good).ok());
  json withD = good;
  withD["d"] = gx;
  EXPECT_EQ(parseEcP256Jwk(withD).error().code, jws_errc::kJwkPrivate);
  for (auto [key, value] : std::vector<std::pair<std::string, json>>{
           {"kty", "RSA"}, {"crv", "P-384"}, {"x", "AAAA"}, {"y", 5}, {"x", gy}}) {
    json bad = good;
    bad[key] = value;
    EXPECT_EQ(parseEcP256Jwk(bad).error().code, jws_errc::kJwkInvalid) << key;
  }
  EXPECT_EQ(parseEcP256Jwk(json::array()).error().code, jws_errc::kJwkInvalid);
}

TEST(Jws, Es256RejectsWrongLengthsAndKeys) {
  EXPECT_FALSE(verifyEs256Spki(Bytes{1, 2, 3}, "x", Bytes(64)));
  const std::string gx = "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY";
  const std::string gy = "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU";
  auto key = parseEcP256Jwk(json{{"kty", "EC"}, {"crv", "P-256"}, {"x", gx}, {"y", gy}});
  ASSERT_TRUE(key.ok());
  EXPECT_FALSE(verifyEs256(*key, "x", Bytes(63)));
  EXPECT_FALSE(verifyEs256(*key, "x", Bytes(64)));  // r = s = 0
  EXPECT_FALSE(verifyEs256(*key, "x", Bytes(70)));
}

}  // namespace
}  // namespace sealgate
