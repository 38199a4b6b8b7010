#include "core/key_labels.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace sealgate {
namespace {

TEST(KeyLabels, ParsesVersions) {
  EXPECT_EQ(parseVersionedLabel("sealgate-grant-es256-v1", key_labels::kGrantSigning), 1u);
  EXPECT_EQ(parseVersionedLabel("sealgate-grant-es256-v42", key_labels::kGrantSigning), 42u);
  EXPECT_EQ(parseVersionedLabel("sealgate-ref-hmac-v999999999", key_labels::kRefHmac), 999999999u);
}

TEST(KeyLabels, RefusesAnythingElse) {
  const std::string p = key_labels::kGrantSigning;
  for (const std::string& bad : {p, p + "-", p + "-v", p + "-v0", p + "-v01", p + "-v1x", p + "-vx1", p + "-v-1",
                                 p + "-v+1", p + "-v 1", p + "-v1234567890", p + "v1", p + "-V1", p + "-w1",
                                 std::string("x") + p + "-v1", std::string("sealgate-grant-v1"), std::string()}) {
    EXPECT_FALSE(parseVersionedLabel(bad, p)) << bad;
  }
  // A prefix of another label's prefix does not match it.
  EXPECT_FALSE(parseVersionedLabel("sealgate-grant-es256-v1", "sealgate-grant"));
  EXPECT_FALSE(parseVersionedLabel("sealgate-audit-es256-v1", key_labels::kGrantSigning));
}

TEST(KeyLabels, VersionedLabelRoundTrips) {
  for (unsigned v : {1u, 2u, 10u, 123456789u}) {
    const std::string label = versionedLabel(key_labels::kAuditSigning, v);
    EXPECT_EQ(parseVersionedLabel(label, key_labels::kAuditSigning), v) << label;
  }
  EXPECT_EQ(versionedLabel(key_labels::kRefHmac, 3), "sealgate-ref-hmac-v3");
}

TEST(KeyLabels, TlsLabelBaseDropsAVersionSuffixOnly) {
  EXPECT_EQ(tlsLabelBase("sealgate-tls"), "sealgate-tls");
  EXPECT_EQ(tlsLabelBase("sealgate-tls-v2"), "sealgate-tls");
  EXPECT_EQ(tlsLabelBase("sealgate-tls-v12"), "sealgate-tls");
  EXPECT_EQ(tlsLabelBase("web-v1-tls"), "web-v1-tls");
  EXPECT_EQ(tlsLabelBase("sealgate-tls-v0"), "sealgate-tls-v0");
  EXPECT_EQ(tlsLabelBase("sealgate-tls-v"), "sealgate-tls-v");
  EXPECT_EQ(tlsLabelBase("-v3"), "-v3");
  EXPECT_EQ(tlsLabelBase(""), "");
}

TEST(KeyLabels, TheTableHoldsDistinctLabels) {
  const std::set<std::string> all{key_labels::kRefHmac, key_labels::kGrantSigning, key_labels::kAuditSigning,
                                  key_labels::kKek, key_labels::kTls};
  EXPECT_EQ(all.size(), 5u);
  // No fixed label reads as a version of a versioned one.
  for (const char* fixed : {key_labels::kKek, key_labels::kTls}) {
    for (const char* prefix : {key_labels::kRefHmac, key_labels::kGrantSigning, key_labels::kAuditSigning}) {
      EXPECT_FALSE(parseVersionedLabel(fixed, prefix));
    }
  }
}

}  // namespace
}  // namespace sealgate
