#include "core/signed_note.h"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

namespace sealgate::note {
namespace {

struct TestKey {
  EVP_PKEY* key = nullptr;
  Bytes spki;
  TestKey() {
    key = EVP_EC_gen("P-256");
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(key, &der);
    spki.assign(der, der + len);
    OPENSSL_free(der);
  }
  ~TestKey() { EVP_PKEY_free(key); }
  Bytes sign(const std::string& text) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    std::size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    Bytes sig(len);
    EVP_DigestSign(ctx, sig.data(), &len, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    return sig;
  }
  std::string note(const std::string& name, const std::string& text) const {
    return formatNote(text, {Signature{name, ecdsaKeyId(spki), sign(text)}});
  }
};

merkle::Hash someRoot() { return merkle::leafHash("root"); }

TEST(Checkpoint, FormatsAndParsesTheC2spBody) {
  Checkpoint c{"sealgate", 42, someRoot()};
  const std::string text = formatCheckpoint(c);
  EXPECT_EQ(text, "sealgate\n42\n" + base64Std(someRoot()) + "\n");
  auto back = parseCheckpoint(text);
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_EQ(back->origin, "sealgate");
  EXPECT_EQ(back->size, 42u);
  EXPECT_EQ(back->root, someRoot());
  // Extension lines are allowed and ignored.
  EXPECT_TRUE(parseCheckpoint(text + "ext\n").ok());
}

TEST(Checkpoint, RejectsMalformedBodies) {
  const std::string root = base64Std(someRoot());
  for (const std::string& bad :
       std::vector<std::string>{std::string(""), "sealgate\n42\n" + root, "sealgate\n42\n",
                                "sealgate\n042\n" + root + "\n", "sealgate\n-1\n" + root + "\n",
                                "sealgate\n4 2\n" + root + "\n", "sealgate\n99999999999999999999\n" + root + "\n",
                                "sealgate\n1\nAAAA\n", "sealgate\n1\n" + root.substr(1) + "\n", "\n1\n" + root + "\n",
                                "sealgate\n1\n" + root + "\n\n", "seal\tgate\n1\n" + root + "\n"}) {
    auto r = parseCheckpoint(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::CheckpointInvalid);
    }
  }
}

TEST(SignedNote, KeyIdIsTheFirstFourBytesOfSha256OfTheSpki) {
  TestKey k;
  std::uint8_t d[32];
  SHA256(k.spki.data(), k.spki.size(), d);
  EXPECT_EQ(ecdsaKeyId(k.spki), (std::uint32_t{d[0]} << 24) | (d[1] << 16) | (d[2] << 8) | d[3]);
}

TEST(SignedNote, SignsAndVerifiesWithThePinnedKeyOnly) {
  TestKey k, other;
  const std::string text = formatCheckpoint({"sealgate", 7, someRoot()});
  const std::string n = k.note("sealgate", text);
  // The line layout: em dash, space, name, space, base64(keyid || DER signature).
  EXPECT_EQ(n.substr(0, text.size() + 1), text + "\n");
  EXPECT_EQ(n.substr(text.size() + 1, 4), "\xE2\x80\x94 ");
  auto parsed = parseNote(n);
  ASSERT_TRUE(parsed.ok()) << parsed.error().describe();
  EXPECT_EQ(parsed->text, text);
  ASSERT_EQ(parsed->signatures.size(), 1u);
  EXPECT_EQ(parsed->signatures[0].keyId, ecdsaKeyId(k.spki));
  EXPECT_TRUE(verifyEcdsa(*parsed, "sealgate", k.spki).ok());
  // Another pinned key: the signature is not its own.
  EXPECT_EQ(verifyEcdsa(*parsed, "sealgate", other.spki).error().code, ErrorCode::NoteUnsigned);
  // The same key under another name is not pinned.
  EXPECT_EQ(verifyEcdsa(*parsed, "other", k.spki).error().code, ErrorCode::NoteUnsigned);
  // Unknown signatures are ignored; the pinned one still decides.
  auto two = parseNote(formatNote(
      text, {Signature{"witness", 1234, Bytes(70, 1)}, Signature{"sealgate", ecdsaKeyId(k.spki), k.sign(text)}}));
  ASSERT_TRUE(two.ok());
  EXPECT_TRUE(verifyEcdsa(*two, "sealgate", k.spki).ok());
  // A pinned key's failing signature rejects the note even if another passes.
  auto mixed = parseNote(formatNote(text, {Signature{"sealgate", ecdsaKeyId(k.spki), k.sign("other text\n")},
                                           Signature{"sealgate", ecdsaKeyId(k.spki), k.sign(text)}}));
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(verifyEcdsa(*mixed, "sealgate", k.spki).error().code, ErrorCode::SignatureInvalid);
}

TEST(SignedNote, AnyChangedByteOfTheNoteFailsVerification) {
  TestKey k;
  const std::string n = k.note("sealgate", formatCheckpoint({"sealgate", 1000, someRoot()}));
  for (std::size_t i = 0; i < n.size(); ++i) {
    std::string bad = n;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto parsed = parseNote(bad);
    if (!parsed) continue;  // rejected as malformed: also a failure
    EXPECT_FALSE(verifyEcdsa(*parsed, "sealgate", k.spki).ok()) << "byte " << i;
  }
}

TEST(SignedNote, RejectsMalformedNotes) {
  TestKey k;
  const std::string text = "sealgate\n1\n" + base64Std(someRoot()) + "\n";
  const std::string good = k.note("sealgate", text);
  const std::string sigLine = good.substr(text.size() + 1);
  for (const std::string& bad : std::vector<std::string>{
           std::string(""), text, text + "\n", text + "\n" + sigLine.substr(0, sigLine.size() - 1),
           text + "\n- sealgate AAAAAAAA\n", text + "\n\xE2\x80\x94 sealgate\n", text + "\n\xE2\x80\x94  AAAAAAAA\n",
           text + "\n\xE2\x80\x94 seal+gate AAAAAAAA\n", text + "\n\xE2\x80\x94 sealgate AAAA\n",
           text + "\n\xE2\x80\x94 sealgate not*base64\n", "a\n\nb\n\n" + sigLine, std::string("a\x01\n\n") + sigLine}) {
    auto r = parseNote(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::NoteInvalid);
    }
  }
  std::string many = text + "\n";
  for (int i = 0; i < 65; ++i) many += sigLine;
  EXPECT_FALSE(parseNote(many).ok());
  std::string sixteen = text + "\n";
  for (int i = 0; i < 16; ++i) sixteen += sigLine;
  EXPECT_TRUE(parseNote(sixteen).ok());
}

TEST(SignedNote, PemKeysMustBeP256) {
  TestKey k;
  const std::string pem = spkiToPem(k.spki);
  auto back = p256SpkiFromPem(pem);
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_EQ(*back, k.spki);
  EXPECT_EQ(p256SpkiFromPem("not a key").error().code, ErrorCode::KeyInvalid);
  EVP_PKEY* ed = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(ed, &der);
  Bytes edSpki(der, der + len);
  OPENSSL_free(der);
  EVP_PKEY_free(ed);
  EXPECT_EQ(p256SpkiFromPem(spkiToPem(edSpki)).error().code, ErrorCode::KeyInvalid);
  EVP_PKEY* p384 = EVP_EC_gen("P-384");
  der = nullptr;
  len = i2d_PUBKEY(p384, &der);
  Bytes p384Spki(der, der + len);
  OPENSSL_free(der);
  EVP_PKEY_free(p384);
  EXPECT_EQ(p256SpkiFromPem(spkiToPem(p384Spki)).error().code, ErrorCode::KeyInvalid);
  auto parsed = parseNote(k.note("sealgate", "x\n"));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(verifyEcdsa(*parsed, "sealgate", p384Spki).error().code, ErrorCode::KeyInvalid);
}

TEST(Base64Std, StrictDecoding) {
  EXPECT_EQ(*decodeBase64Std("AAEC"), (Bytes{0, 1, 2}));
  EXPECT_EQ(*decodeBase64Std("AAE="), (Bytes{0, 1}));
  EXPECT_EQ(*decodeBase64Std("AA=="), (Bytes{0}));
  for (const char* bad : {"", "A", "AA=", "AB==", "A===", "AA-_", "AA\nA", "====", "AAE=AAAA"}) {
    EXPECT_FALSE(decodeBase64Std(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace sealgate::note
