// HttpError: the status is the code's, from core/error_code.h's table, and a
// component's own code is never answered as such.
#include <gtest/gtest.h>

#include "appliance/server/http_server.h"

namespace sealgate::appliance {
namespace {

TEST(HttpError, StatusComesFromTheTable) {
  for (const auto& info : kErrorCodes) {
    if (info.exposure != Exposure::Api) continue;
    HttpError e{info.code, "m"};
    EXPECT_EQ(e.code, info.code);
    EXPECT_EQ(e.status, info.httpStatus) << info.name;
    EXPECT_EQ(e.message, "m");
  }
  HttpError dpop{ErrorCode::DpopNonceRequired, "m", {{"DPoP-Nonce", "n"}}};
  EXPECT_EQ(dpop.status, 401);
  EXPECT_EQ(dpop.headers.at("DPoP-Nonce"), "n");
}

TEST(HttpError, AnInternalCodeIsAnsweredAsInternalWithoutItsMessage) {
  HttpError e{ErrorCode::HsmKeyNotFound, "no key sealgate-kek in token t1"};
  EXPECT_EQ(e.code, ErrorCode::Internal);
  EXPECT_EQ(e.status, 500);
  EXPECT_EQ(e.message.find("sealgate-kek"), std::string::npos);
}

TEST(HttpError, BodyCarriesTheWireName) {
  const auto body = errorBody(ErrorCode::GrantRevoked, "revoked", "c1");
  EXPECT_EQ(body.dump(), R"({"error":{"code":"GRANT_REVOKED","correlation_id":"c1","message":"revoked"}})");
}

TEST(QueryValue, DecodesFormEncodingAndRefusesBrokenOrControlCharacters) {
  auto v = queryValue("a=1&reason=rotated+key%2C%20per%20ticket%20T-7&b=", "reason");
  ASSERT_TRUE(v);
  EXPECT_EQ(**v, "rotated key, per ticket T-7");
  EXPECT_EQ(**queryValue("b=", "b"), "");
  EXPECT_EQ(**queryValue("b", "b"), "");
  EXPECT_FALSE(*queryValue("", "reason"));
  EXPECT_FALSE(*queryValue("reasons=x&xreason=y", "reason"));
  EXPECT_EQ(**queryValue("reason=%c3%a9", "reason"), "\xc3\xa9");
  for (const char* bad : {"reason=%", "reason=%4", "reason=%4g", "reason=a%0Ab", "reason=%00", "reason=%7f"}) {
    auto r = queryValue(bad, "reason");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::InvalidRequest) << bad;
  }
}

}  // namespace
}  // namespace sealgate::appliance
