// The approver verifier's refusals that a TPM cannot be made to produce: an AK
// or EK public area of another shape, a quote signed by the AK's key that is
// not a TPM-generated quote, other PCR banks. These inputs are built here per
// TPM 2.0 Part 2 (Tss2_MU marshalling) and signed with an OpenSSL P-256 key
// standing in for the AK's private key; everything a TPM does produce is tested
// against swtpm in approver_test.cc.
#include "attest/approver_verifier.h"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include <cstring>

namespace sealgate::attest {
namespace {

// A P-256 key pair and its public area as a TPM AK template would give it.
struct SoftAk {
  EvpPkeyPtr key;
  TPM2B_PUBLIC pub{};
};

SoftAk makeSoftAk() {
  SoftAk ak;
  ak.key.reset(EVP_EC_gen("P-256"));
  EXPECT_TRUE(ak.key);
  std::uint8_t point[65];
  std::size_t len = 0;
  EXPECT_EQ(EVP_PKEY_get_octet_string_param(ak.key.get(), "pub", point, sizeof point, &len), 1);
  EXPECT_EQ(len, 65u);
  TPMT_PUBLIC& area = ak.pub.publicArea;
  area.type = TPM2_ALG_ECC;
  area.nameAlg = TPM2_ALG_SHA256;
  area.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |
                          TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH;
  area.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
  area.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
  area.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  area.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  area.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  area.unique.ecc.x.size = 32;
  std::memcpy(area.unique.ecc.x.buffer, point + 1, 32);
  area.unique.ecc.y.size = 32;
  std::memcpy(area.unique.ecc.y.buffer, point + 33, 32);
  return ak;
}

Bytes marshal(const TPM2B_PUBLIC& pub) {
  Bytes out(sizeof pub);
  std::size_t off = 0;
  EXPECT_EQ(Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, out.data(), out.size(), &off), TSS2_RC_SUCCESS);
  out.resize(off);
  return out;
}

Bytes marshal(const TPMS_ATTEST& a) {
  Bytes out(sizeof a);
  std::size_t off = 0;
  EXPECT_EQ(Tss2_MU_TPMS_ATTEST_Marshal(&a, out.data(), out.size(), &off), TSS2_RC_SUCCESS);
  out.resize(off);
  return out;
}

const Bytes kNonce(32, 0x5a);
const Bytes kPcrDigest(32, 0x11);

TPMS_ATTEST quoteAttest() {
  TPMS_ATTEST a{};
  a.magic = TPM2_GENERATED_VALUE;
  a.type = TPM2_ST_ATTEST_QUOTE;
  a.extraData.size = static_cast<UINT16>(kNonce.size());
  std::memcpy(a.extraData.buffer, kNonce.data(), kNonce.size());
  a.clockInfo.clock = 1000;
  a.clockInfo.resetCount = 2;
  a.clockInfo.restartCount = 0;
  a.clockInfo.safe = TPM2_YES;
  a.firmwareVersion = 0x2019102300000000ull;
  TPML_PCR_SELECTION& sel = a.attested.quote.pcrSelect;
  sel.count = 1;
  sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
  sel.pcrSelections[0].sizeofSelect = 3;
  sel.pcrSelections[0].pcrSelect[2] = 0x01;  // PCR 16
  a.attested.quote.pcrDigest.size = 32;
  std::memcpy(a.attested.quote.pcrDigest.buffer, kPcrDigest.data(), 32);
  return a;
}

// ECDSA-SHA256 over `attest` with `key`, as a marshalled TPMT_SIGNATURE.
Bytes sign(EVP_PKEY* key, const Bytes& attest) {
  EvpMdCtxPtr md(EVP_MD_CTX_new());
  EXPECT_EQ(EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key), 1);
  std::size_t len = 0;
  EXPECT_EQ(EVP_DigestSign(md.get(), nullptr, &len, attest.data(), attest.size()), 1);
  Bytes der(len);
  EXPECT_EQ(EVP_DigestSign(md.get(), der.data(), &len, attest.data(), attest.size()), 1);
  const unsigned char* p = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)));
  TPMT_SIGNATURE t{};
  t.sigAlg = TPM2_ALG_ECDSA;
  t.signature.ecdsa.hash = TPM2_ALG_SHA256;
  t.signature.ecdsa.signatureR.size = 32;
  t.signature.ecdsa.signatureS.size = 32;
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), t.signature.ecdsa.signatureR.buffer, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), t.signature.ecdsa.signatureS.buffer, 32);
  Bytes out(sizeof t);
  std::size_t off = 0;
  EXPECT_EQ(Tss2_MU_TPMT_SIGNATURE_Marshal(&t, out.data(), out.size(), &off), TSS2_RC_SUCCESS);
  out.resize(off);
  return out;
}

QuoteExpectation expectPcr16() { return {kNonce, {16}, kPcrDigest}; }

TEST(ApproverVerifier, SoftwareSignedQuoteOverTheRightFieldsVerifies) {
  SoftAk soft = makeSoftAk();
  auto ak = parseAkPublic(marshal(soft.pub));
  ASSERT_TRUE(ak) << ak.error().describe();
  const Bytes attest = marshal(quoteAttest());
  auto v = verifyQuote(*ak, attest, sign(soft.key.get(), attest), expectPcr16());
  ASSERT_TRUE(v) << v.error().describe();
  EXPECT_EQ(v->clock.clock, 1000u);
  EXPECT_EQ(v->clock.resetCount, 2u);
  EXPECT_TRUE(v->clock.safe);
  EXPECT_EQ(v->firmwareVersion, 0x2019102300000000ull);
  EXPECT_EQ(v->pcrs, std::vector<unsigned>{16});
  // Another key's signature over the same bytes.
  SoftAk other = makeSoftAk();
  EXPECT_EQ(verifyQuote(*ak, attest, sign(other.key.get(), attest), expectPcr16()).error().code,
            ErrorCode::QuoteSignatureInvalid);
}

TEST(ApproverVerifier, SignedButNotATpmQuoteIsMalformed) {
  SoftAk soft = makeSoftAk();
  auto ak = parseAkPublic(marshal(soft.pub));
  ASSERT_TRUE(ak);
  TPMS_ATTEST notGenerated = quoteAttest();
  notGenerated.magic = 0x12345678;
  Bytes attest = marshal(notGenerated);
  EXPECT_EQ(verifyQuote(*ak, attest, sign(soft.key.get(), attest), expectPcr16()).error().code,
            ErrorCode::QuoteMalformed);
  TPMS_ATTEST certify{};
  certify.magic = TPM2_GENERATED_VALUE;
  certify.type = TPM2_ST_ATTEST_CERTIFY;
  attest = marshal(certify);
  EXPECT_EQ(verifyQuote(*ak, attest, sign(soft.key.get(), attest), expectPcr16()).error().code,
            ErrorCode::QuoteMalformed);
}

TEST(ApproverVerifier, OtherBanksOrSelectionsArePcrMismatch) {
  SoftAk soft = makeSoftAk();
  auto ak = parseAkPublic(marshal(soft.pub));
  ASSERT_TRUE(ak);
  TPMS_ATTEST sha1 = quoteAttest();
  sha1.attested.quote.pcrSelect.pcrSelections[0].hash = TPM2_ALG_SHA1;
  Bytes attest = marshal(sha1);
  EXPECT_EQ(verifyQuote(*ak, attest, sign(soft.key.get(), attest), expectPcr16()).error().code,
            ErrorCode::QuotePcrMismatch);
  TPMS_ATTEST twoBanks = quoteAttest();
  twoBanks.attested.quote.pcrSelect.count = 2;
  twoBanks.attested.quote.pcrSelect.pcrSelections[1] = twoBanks.attested.quote.pcrSelect.pcrSelections[0];
  twoBanks.attested.quote.pcrSelect.pcrSelections[1].hash = TPM2_ALG_SHA384;
  attest = marshal(twoBanks);
  EXPECT_EQ(verifyQuote(*ak, attest, sign(soft.key.get(), attest), expectPcr16()).error().code,
            ErrorCode::QuotePcrMismatch);
  const Bytes good = marshal(quoteAttest());
  EXPECT_EQ(verifyQuote(*ak, good, sign(soft.key.get(), good), {kNonce, {16, 17}, kPcrDigest}).error().code,
            ErrorCode::QuotePcrMismatch);
  // A repeated index in the expectation is the same selection.
  EXPECT_TRUE(verifyQuote(*ak, good, sign(soft.key.get(), good), {kNonce, {16, 16}, kPcrDigest}));
  EXPECT_EQ(verifyQuote(*ak, good, sign(soft.key.get(), good), {kNonce, {16}, Bytes(32, 0x12)}).error().code,
            ErrorCode::QuotePcrMismatch);
}

TEST(ApproverVerifier, AkOfAnotherShapeIsRejected) {
  SoftAk soft = makeSoftAk();
  ASSERT_TRUE(parseAkPublic(marshal(soft.pub)));
  const auto rejected = [](const TPM2B_PUBLIC& pub) {
    auto r = parseAkPublic(marshal(pub));
    return !r && r.error().code == ErrorCode::AkRejected;
  };
  TPM2B_PUBLIC p = soft.pub;
  p.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA384;
  EXPECT_TRUE(rejected(p));
  p = soft.pub;
  p.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECSCHNORR;
  EXPECT_TRUE(rejected(p));
  p = soft.pub;
  p.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
  EXPECT_TRUE(rejected(p));
  p = soft.pub;
  p.publicArea.unique.ecc.y.buffer[31] ^= 0x01;  // off the curve
  EXPECT_TRUE(rejected(p));
  p = soft.pub;
  p.publicArea.unique.ecc.x.size = 31;
  EXPECT_TRUE(rejected(p));
  p = soft.pub;
  p.publicArea.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;  // could sign anything with TPM2_Sign
  EXPECT_TRUE(rejected(p));
  p = soft.pub;
  p.publicArea.type = TPM2_ALG_RSA;
  p.publicArea.parameters.rsaDetail = {};
  p.publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
  p.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
  p.publicArea.parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
  p.publicArea.parameters.rsaDetail.keyBits = 2048;
  p.publicArea.unique.rsa.size = 256;
  std::memset(p.publicArea.unique.rsa.buffer, 0xc3, 256);
  EXPECT_TRUE(rejected(p));
}

TEST(ApproverVerifier, EkOfAnotherShapeIsUntrusted) {
  SoftAk soft = makeSoftAk();
  TPM2B_PUBLIC ek = soft.pub;
  ek.publicArea.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
                                   TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN;
  ek.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  ek.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
  ek.publicArea.parameters.eccDetail.symmetric.keyBits.aes = 128;
  ek.publicArea.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  auto parsed = parseEkPublic(marshal(ek));
  ASSERT_TRUE(parsed) << parsed.error().describe();
  EXPECT_FALSE(parsed->rsa);
  TPM2B_PUBLIC p = ek;
  p.publicArea.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
  EXPECT_EQ(parseEkPublic(marshal(p)).error().code, ErrorCode::EkUntrusted);
  p = ek;
  p.publicArea.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CBC;
  EXPECT_EQ(parseEkPublic(marshal(p)).error().code, ErrorCode::EkUntrusted);
  p = ek;
  p.publicArea.nameAlg = TPM2_ALG_SHA1;
  EXPECT_EQ(parseEkPublic(marshal(p)).error().code, ErrorCode::EkUntrusted);
  // The P-384 EK template's SHA-384 name is accepted for an ECC EK.
  p = ek;
  p.publicArea.nameAlg = TPM2_ALG_SHA384;
  auto sha384 = parseEkPublic(marshal(p));
  ASSERT_TRUE(sha384) << sha384.error().describe();
  EXPECT_EQ(sha384->name.size(), 2u + 48u);
}

TEST(ApproverVerifier, ClockOrderIsResetThenRestartThenClock) {
  const TpmClock base{5000, 3, 1, true};
  EXPECT_TRUE(isAfter(base, {5001, 3, 1, true}));
  EXPECT_FALSE(isAfter(base, base));
  EXPECT_FALSE(isAfter(base, {4999, 3, 1, true}));
  // A restart or a reset outranks a clock that went back (a power loss before
  // the clock was saved).
  EXPECT_TRUE(isAfter(base, {10, 3, 2, false}));
  EXPECT_TRUE(isAfter(base, {10, 4, 0, false}));
  EXPECT_FALSE(isAfter(base, {99999, 3, 0, true}));
  EXPECT_FALSE(isAfter(base, {99999, 2, 9, true}));
  EXPECT_TRUE(checkFresh(base, {5001, 3, 1, true}));
  EXPECT_EQ(checkFresh(base, base).error().code, ErrorCode::QuoteNotFresh);
}

TEST(ApproverVerifier, PcrCompositeDigestIsSha256OfTheConcatenation) {
  // SHA-256 of 32 zero bytes: a freshly reset PCR 16 quoted alone.
  EXPECT_EQ(hexLower(pcrCompositeDigest({Bytes(32, 0)})),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");
  EXPECT_EQ(pcrCompositeDigest({Bytes(32, 0), Bytes(32, 1)}), pcrCompositeDigest({[] {
              Bytes b(32, 0);
              b.insert(b.end(), 32, 1);
              return b;
            }()}));
}

}  // namespace
}  // namespace sealgate::attest
