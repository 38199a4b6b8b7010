#include "core/audit_bundle.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

#include "core/signed_note.h"

namespace sealgate::audit {
namespace {

using nlohmann::json;

struct Key {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  Bytes spki;
  Key() {
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(key, &der);
    spki.assign(der, der + len);
    OPENSSL_free(der);
  }
  ~Key() { EVP_PKEY_free(key); }
  std::string note(const std::string& origin, std::uint64_t size, const merkle::Hash& root) const {
    const std::string text = note::formatCheckpoint({origin, size, root});
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    std::size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    Bytes sig(len);
    EVP_DigestSign(ctx, sig.data(), &len, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    return note::formatNote(text, {note::Signature{origin, note::ecdsaKeyId(spki), sig}});
  }
};

json b64(const std::vector<merkle::Hash>& hs) {
  json a = json::array();
  for (const auto& h : hs) a.push_back(base64Std(h));
  return a;
}

// A bundle as the appliance exports it: checkpoints every 4 entries.
json makeBundle(const Key& key, std::size_t n, const std::string& origin = "sealgate") {
  std::vector<std::string> entries;
  std::vector<merkle::Hash> leaves;
  merkle::Tree tree;
  json earlier = json::array();
  for (std::size_t i = 0; i < n; ++i) {
    entries.push_back(json{{"audit_index", i}, {"type", "authorize"}, {"decision_id", "d" + std::to_string(i)}}.dump());
    leaves.push_back(merkle::leafHash(entries.back()));
    tree.append(leaves.back());
    if ((i + 1) % 4 == 0 && i + 1 < n)
      earlier.push_back({{"size", i + 1}, {"note", key.note(origin, i + 1, tree.root())}});
  }
  json proofs = {{"consistency", json::array()}, {"inclusion", json::array()}};
  if (n > 4) {
    proofs["consistency"].push_back(
        {{"first", 4}, {"second", n}, {"proof", b64(*merkle::consistencyProof(leaves, 4, n))}});
  }
  if (n > 0)
    proofs["inclusion"].push_back(
        {{"index", 1}, {"tree_size", n}, {"proof", b64(*merkle::inclusionProof(leaves, 1, n))}});
  return {{"format", kBundleFormat},
          {"origin", origin},
          {"tree_size", n},
          {"checkpoint", key.note(origin, n, tree.root())},
          {"checkpoints", earlier},
          {"entries", entries},
          {"leaf_hashes", b64(leaves)},
          {"proofs", proofs}};
}

VerifyOptions pinned(const Key& k) {
  VerifyOptions o;
  o.spkiDer = k.spki;
  return o;
}

TEST(AuditBundle, AGoodBundleVerifiesWithProgress) {
  Key k;
  std::uint64_t last = 0, total = 0;
  VerifyOptions o = pinned(k);
  o.progress = [&](std::uint64_t done, std::uint64_t t) {
    last = done;
    total = t;
  };
  auto r = verifyBundle(makeBundle(k, 10).dump(), o);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->treeSize, 10u);
  EXPECT_EQ(r->checkpoints, 3u);  // sizes 4, 8 and the final 10
  EXPECT_EQ(r->proofs, 2u);
  EXPECT_EQ(last, total);
  EXPECT_TRUE(verifyBundle(makeBundle(k, 0).dump(), pinned(k)).ok());
}

TEST(AuditBundle, MorePinnedKeysAcceptACheckpointByAnyOfThem) {
  Key signer, other;
  const std::string bundle = makeBundle(signer, 10).dump();
  auto alone = verifyBundle(bundle, pinned(other));
  ASSERT_FALSE(alone.ok());
  EXPECT_EQ(alone.error().code, ErrorCode::NoteUnsigned);
  VerifyOptions both = pinned(other);
  both.moreKeys = {signer.spki};
  EXPECT_TRUE(verifyBundle(bundle, both).ok());
  VerifyOptions reversed = pinned(signer);
  reversed.moreKeys = {other.spki};
  EXPECT_TRUE(verifyBundle(bundle, reversed).ok());
  // A bad signature by one pinned key rejects, whatever another key says.
  json b = makeBundle(signer, 10);
  std::string note = b["checkpoint"];
  const auto sig = note.rfind(' ');
  note[sig + 8] = note[sig + 8] == 'A' ? 'B' : 'A';
  b["checkpoint"] = note;
  auto bad = verifyBundle(b.dump(), both);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().code, ErrorCode::NoteUnsigned);
}

TEST(AuditBundle, AChangedEntryIsNamed) {
  Key k;
  json b = makeBundle(k, 12);
  std::string e = b["entries"][6];
  e[e.find("d6")] = 'x';
  b["entries"][6] = e;
  auto r = verifyBundle(b.dump(), pinned(k));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::EntryMismatch);
  EXPECT_EQ(r.error().native, 6u);
  EXPECT_NE(r.error().message.find("entry 6"), std::string::npos) << r.error().message;
}

TEST(AuditBundle, AnEntryRewrittenWithItsLeafHashFailsTheSignedTree) {
  Key k;
  json b = makeBundle(k, 12);
  const std::string forged = json{{"audit_index", 9}, {"type", "authorize"}, {"decision_id", "forged"}}.dump();
  b["entries"][9] = forged;
  b["leaf_hashes"][9] = base64Std(merkle::leafHash(forged));
  auto r = verifyBundle(b.dump(), pinned(k));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::TreeMismatch);
  // Entries 8..11 are after the last good checkpoint (8): the first suspect is 8.
  EXPECT_EQ(r.error().native, 8u);
  // Inside a range covered by an earlier checkpoint, that checkpoint names the range.
  json c = makeBundle(k, 12);
  c["entries"][2] = json{{"audit_index", 2}, {"x", 1}}.dump();
  c["leaf_hashes"][2] = base64Std(merkle::leafHash(c["entries"][2].get<std::string>()));
  auto r2 = verifyBundle(c.dump(), pinned(k));
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, ErrorCode::TreeMismatch);
  EXPECT_EQ(r2.error().native, 0u);
}

TEST(AuditBundle, AnEntryAtTheWrongIndexIsNamed) {
  Key k;
  json b = makeBundle(k, 5);
  // Swap two entries and their hashes: the tree changes, so the root fails first.
  std::swap(b["entries"][1], b["entries"][2]);
  EXPECT_FALSE(verifyBundle(b.dump(), pinned(k)).ok());
}

TEST(AuditBundle, EveryFlippedByteOfTheFileIsDetected) {
  Key k;
  const std::string text = makeBundle(k, 6).dump();
  std::size_t named = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::string bad = text;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto r = verifyBundle(bad, pinned(k));
    // Flipping some bytes of a JSON escape or key can leave an equivalent document
    // (e.g. "\u0041" vs "A" never occurs here; structural flips are parse errors).
    if (r.ok()) {
      ADD_FAILURE() << "byte " << i << " (" << text[i] << ") went undetected: ..."
                    << text.substr(i > 20 ? i - 20 : 0, 40);
      continue;
    }
    if (r.error().operation == "entry") ++named;
  }
  EXPECT_GT(named, 0u);
}

TEST(AuditBundle, ClearVerdictsForBadInput) {
  Key k, other;
  const json good = makeBundle(k, 9);
  const std::string text = good.dump();
  auto code = [&](const std::string& bundle, const VerifyOptions& o) {
    auto r = verifyBundle(bundle, o);
    return r.ok() ? std::string("OK") : std::string(errorCodeName(r.error().code));
  };
  EXPECT_EQ(code(text.substr(0, text.size() / 2), pinned(k)), "BUNDLE_CORRUPT");  // truncated
  EXPECT_EQ(code("", pinned(k)), "BUNDLE_CORRUPT");
  EXPECT_EQ(code("[]", pinned(k)), "BUNDLE_CORRUPT");
  EXPECT_EQ(code(text, pinned(other)), "NOTE_UNSIGNED");  // not signed by the pinned key
  json wrongFormat = good;
  wrongFormat["format"] = "x";
  EXPECT_EQ(code(wrongFormat.dump(), pinned(k)), "BUNDLE_CORRUPT");
  // A checkpoint signed by the pinned key for another log.
  json foreign = makeBundle(k, 9, "another-log");
  foreign["origin"] = "sealgate";
  EXPECT_NE(code(foreign.dump(), pinned(k)), "OK");
  // A signature that does not verify.
  json badSig = good;
  std::string n = badSig["checkpoint"];
  n[2] = n[2] == '1' ? '2' : '1';
  badSig["checkpoint"] = n;
  EXPECT_NE(code(badSig.dump(), pinned(k)), "OK");
  // Fewer entries than the checkpoint covers.
  json missing = good;
  missing["entries"].erase(missing["entries"].end() - 1);
  EXPECT_EQ(code(missing.dump(), pinned(k)), "TREE_MISMATCH");
  // A proof for another tree.
  json otherTree = makeBundle(other, 20);
  json wrongProof = good;
  wrongProof["proofs"]["consistency"][0] = {
      {"first", 4}, {"second", 9}, {"proof", otherTree["proofs"]["consistency"][0]["proof"]}};
  EXPECT_EQ(code(wrongProof.dump(), pinned(k)), "PROOF_INVALID");
  json wrongIncl = good;
  wrongIncl["proofs"]["inclusion"][0]["index"] = 2;
  EXPECT_EQ(code(wrongIncl.dump(), pinned(k)), "PROOF_INVALID");
  json tooBig = good;
  tooBig["proofs"]["inclusion"][0]["tree_size"] = 100;
  EXPECT_EQ(code(tooBig.dump(), pinned(k)), "PROOF_INVALID");
  json badHash = good;
  badHash["leaf_hashes"][3] = "AAAA";
  EXPECT_EQ(code(badHash.dump(), pinned(k)), "BUNDLE_CORRUPT");
  // An earlier checkpoint larger than the final one.
  json later = good;
  later["checkpoints"].push_back({{"size", 10}, {"note", k.note("sealgate", 10, merkle::emptyRoot())}});
  EXPECT_EQ(code(later.dump(), pinned(k)), "TREE_MISMATCH");
  VerifyOptions noKey;
  EXPECT_EQ(code(text, noKey), "KEY_INVALID");
}

}  // namespace
}  // namespace sealgate::audit

#include <fstream>
#include <sstream>

#include "tests/fuzz/fuzz_audit_key.h"

namespace sealgate::audit {
namespace {

std::string corpusFile(const std::string& name) {
  std::ifstream in(std::string(SEALGATE_FUZZ_CORPUS_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The seed bundles were made by an independent Python implementation (hashlib +
// python3-cryptography) of RFC 6962 and the C2SP note: the C++ verifier agrees.
TEST(AuditBundle, BundlesFromAnIndependentImplementationVerify) {
  VerifyOptions o;
  o.spkiDer = *decodeHex(kFuzzAuditSpkiHex);
  for (const char* name : {"audit_bundle/bundle_0.json", "audit_bundle/bundle_1.json", "audit_bundle/bundle_6.json"}) {
    auto r = verifyBundle(corpusFile(name), o);
    EXPECT_TRUE(r.ok()) << name << ": " << (r.ok() ? "" : r.error().describe());
  }
  auto r = verifyBundle(corpusFile("audit_bundle/bundle_6.json"), o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->treeSize, 6u);
  EXPECT_EQ(r->proofs, 2u);
  EXPECT_EQ(verifyBundle(corpusFile("audit_bundle/truncated.json"), o).error().code, ErrorCode::BundleCorrupt);
}

}  // namespace
}  // namespace sealgate::audit
