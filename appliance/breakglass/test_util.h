// Test doubles of the break-glass folder's interfaces, shared by its tests: a
// scripted quote verifier (service.h's ApprovalVerifier) and a scripted device
// attestation (device_attestation.h). They stand in for the contracts, not for
// a TPM: the TPM checks themselves are tested against swtpm (attest/, keys/).
#pragma once

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "appliance/breakglass/device_attestation.h"
#include "appliance/breakglass/service.h"
#include "core/encoding.h"

namespace sealgate::appliance::breakglass::fakes {

// Accepts a quote when its bytes are "quote:" + hex(qualifying data) and the
// approver is enrolled; the clock comes from the test.
class ScriptedVerifier : public ApprovalVerifier {
 public:
  std::map<std::string, std::string> enrolled;  // approver -> AK fingerprint
  std::uint64_t nextClock = 100;
  std::optional<ErrorCode> failWith;
  int calls = 0;

  static std::vector<std::uint8_t> quoteFor(const Request& r) {
    const std::string text = "quote:" + hexLower(qualifyingData(r));
    return {text.begin(), text.end()};
  }

  Result<Verified> verify(const std::string& approver, std::span<const std::uint8_t> attest,
                          std::span<const std::uint8_t>, const std::array<std::uint8_t, 32>& qualifying) override {
    ++calls;
    const auto it = enrolled.find(approver);
    if (it == enrolled.end()) return makeError(ErrorCode::ApproverNotEnrolled, "not enrolled");
    if (failWith) return makeError(*failWith, "scripted failure");
    const std::string expected = "quote:" + hexLower(qualifying);
    if (std::string(attest.begin(), attest.end()) != expected) {
      return makeError(ErrorCode::InvalidRequest, "the quote is for other qualifying data");
    }
    return Verified{it->second, QuoteClock{nextClock++, 1, 1}};
  }
};

inline Bytes text(const std::string& s) { return {s.begin(), s.end()}; }
inline std::string str(std::span<const std::uint8_t> b) { return {b.begin(), b.end()}; }

inline Bytes sha256(std::span<const std::uint8_t> data) {
  Bytes out(SHA256_DIGEST_LENGTH);
  SHA256(data.data(), data.size(), out.data());
  return out;
}

// The scripted attestation. A device is "ek-<id>" with the certificate
// "cert-<id>" (a certificate not starting so is untrusted, one of another id a
// mismatch) and an AK "ak-<id>" (anything else is rejected). A credential's
// secret is kept here, as if the TPM had activated it. A quote is the text
// "quote|<ak>|<hex qualifying data>|<pcrs,>|<hex digest>|<clock>", signed by
// <ak>.
class ScriptedAttestation : public DeviceAttestation {
 public:
  std::optional<Secret> issued;  // the last credential's secret
  std::string issuedFor;         // its "ak-name|ek"
  int makeCredentials = 0;

  static Bytes quote(const std::string& ak, std::span<const std::uint8_t> qualifying, const std::vector<unsigned>& pcrs,
                     const std::string& digest, std::uint64_t clock) {
    std::ostringstream q;
    q << "quote|" << ak << "|" << hexLower(qualifying) << "|";
    for (unsigned p : pcrs) q << p << ",";
    q << "|" << hexLower(text(digest)) << "|" << clock;
    return text(q.str());
  }

  Result<Device> checkDevice(std::span<const std::uint8_t> cert, std::span<const std::uint8_t> ekPublic,
                             std::span<const std::uint8_t> akPublic) override {
    const std::string c = str(cert), ek = str(ekPublic), ak = str(akPublic);
    if (c.rfind("cert-", 0) != 0 || ek.rfind("ek-", 0) != 0) return makeError(ErrorCode::EkUntrusted, "scripted");
    if (c.substr(5) != ek.substr(3)) return makeError(ErrorCode::EkMismatch, "scripted");
    if (ak.rfind("ak-", 0) != 0) return makeError(ErrorCode::AkRejected, "scripted");
    return Device{text("name-" + ak), "fp-" + ak, text("ekname-" + ek)};
  }

  Result<Credential> makeCredential(std::span<const std::uint8_t> ekPublic, std::span<const std::uint8_t> akName,
                                    const Secret& secret) override {
    ++makeCredentials;
    EXPECT_EQ(secret.size(), 32u);
    auto copy = Secret::copyFrom(secret.exposeSecretBytes());
    EXPECT_TRUE(copy);
    issued = std::move(*copy);
    issuedFor = str(akName) + "|" + str(ekPublic);
    return Credential{text("blob-" + str(akName)), text("enc-" + str(ekPublic))};
  }

  Result<Quoted> verifyQuote(std::span<const std::uint8_t> akPublic, std::span<const std::uint8_t> attest,
                             std::span<const std::uint8_t> signature, const QuoteCheck& check) override {
    std::vector<std::string> f;
    std::istringstream in(str(attest));
    for (std::string part; std::getline(in, part, '|');) f.push_back(part);
    if (f.size() != 6 || f[0] != "quote" || str(signature) != "sig") {
      return makeError(ErrorCode::QuoteMalformed, "scripted");
    }
    if (f[1] != str(akPublic)) return makeError(ErrorCode::QuoteSignatureInvalid, "scripted");
    if (f[2] != hexLower(check.qualifyingData)) return makeError(ErrorCode::QuoteNonceMismatch, "scripted");
    std::string pcrs;
    for (unsigned p : check.pcrs) pcrs += std::to_string(p) + ",";
    if (f[3] != pcrs) return makeError(ErrorCode::QuotePcrMismatch, "scripted: selection");
    if (!check.goldenDigest.empty() && f[4] != hexLower(check.goldenDigest)) {
      return makeError(ErrorCode::QuotePcrMismatch, "scripted: digest");
    }
    return Quoted{QuoteClock{std::stoull(f[5]), 1, 0}, *decodeHex(f[4])};
  }
};

}  // namespace sealgate::appliance::breakglass::fakes
