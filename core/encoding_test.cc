#include "core/encoding.h"

#include <gtest/gtest.h>

namespace sealgate {
namespace {

TEST(Base32, Rfc4648VectorsLowercaseUnpadded) {
  // RFC 4648 §10, lowercased and without padding.
  EXPECT_EQ(base32LowerNoPad(asBytes("")), "");
  EXPECT_EQ(base32LowerNoPad(asBytes("f")), "my");
  EXPECT_EQ(base32LowerNoPad(asBytes("fo")), "mzxq");
  EXPECT_EQ(base32LowerNoPad(asBytes("foo")), "mzxw6");
  EXPECT_EQ(base32LowerNoPad(asBytes("foob")), "mzxw6yq");
  EXPECT_EQ(base32LowerNoPad(asBytes("fooba")), "mzxw6ytb");
  EXPECT_EQ(base32LowerNoPad(asBytes("foobar")), "mzxw6ytboi");
}

TEST(Base64Url, RoundTripAndRejectsPaddingAndStdAlphabet) {
  Bytes data{0xfb, 0xff, 0xbf, 0x00, 0x01};
  std::string enc = base64UrlNoPad(data);
  EXPECT_EQ(enc, "-_-_AAE");
  auto dec = decodeBase64UrlNoPad(enc);
  ASSERT_TRUE(dec.has_value());
  EXPECT_EQ(*dec, data);
  EXPECT_FALSE(decodeBase64UrlNoPad("+/+/AAE").has_value());
  EXPECT_FALSE(decodeBase64UrlNoPad("-_-_AAE=").has_value());
  EXPECT_FALSE(decodeBase64UrlNoPad("a b").has_value());
}

TEST(Base64Std, Rfc4648Vector) { EXPECT_EQ(base64Std(asBytes("foobar")), "Zm9vYmFy"); }

TEST(Hex, RoundTripAndRejectsBadInput) {
  EXPECT_EQ(hexLower(Bytes{0x00, 0xab, 0xff}), "00abff");
  EXPECT_EQ(*decodeHex("00ABff"), (Bytes{0x00, 0xab, 0xff}));
  EXPECT_FALSE(decodeHex("abc").has_value());
  EXPECT_FALSE(decodeHex("zz").has_value());
}

TEST(ConstantTimeEquals, ComparesContentAndLength) {
  EXPECT_TRUE(constantTimeEquals(asBytes("abc"), asBytes("abc")));
  EXPECT_FALSE(constantTimeEquals(asBytes("abc"), asBytes("abd")));
  EXPECT_FALSE(constantTimeEquals(asBytes("abc"), asBytes("abcd")));
  EXPECT_TRUE(constantTimeEquals(asBytes(""), asBytes("")));
}

}  // namespace
}  // namespace sealgate
