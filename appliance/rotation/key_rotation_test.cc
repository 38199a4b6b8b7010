#include "appliance/rotation/key_rotation.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <set>

#include "core/audit_bundle.h"
#include "core/key_labels.h"
#include "core/openssl_ptr.h"
#include "tests/support/memory_state_store.h"
#include "tests/support/temp_dir.h"
#include "tests/support/temp_token.h"

namespace sealgate::appliance {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1'900'000'000;
constexpr std::chrono::seconds kGrantLifetime{300};
// Once every grant a version superseded at kNow signed has expired (lifetime, clock leeway).
constexpr std::int64_t kRetirable = kNow + 300 + 5 + 1;

// The audit sink of the rotations: the log itself, or down (a full disk).
class SwitchableSink : public AuditSink {
 public:
  explicit SwitchableSink(MerkleAuditLog& log) : log_(log) {}
  Result<std::uint64_t> append(const std::string& e) override {
    if (down) return makeError(ErrorCode::AuditIo, "injected: the disk is full");
    events.push_back(json::parse(e));
    return log_.append(e);
  }
  bool healthy() const override { return !down; }
  bool down = false;
  std::vector<json> events;

 private:
  MerkleAuditLog& log_;
};

// A SoftHSM2 token with version 1 of every versioned key, the appliance's keys
// over it, a grant authority, an audit log and an in-memory sealed state.
struct Fixture {
  explicit Fixture(bool pinRefVersion = false) {
    static int tokens = 0;
    const auto token = testing::createToken("rotation-test-" + std::to_string(++tokens));
    {
      auto store = hsm::KeyStore::open(token);
      if (!store || !(*store)->generateHmacKey(versionedLabel(key_labels::kRefHmac, 1)) ||
          !(*store)->generateEcP256Key(versionedLabel(key_labels::kGrantSigning, 1)) ||
          !(*store)->generateEcP256Key(versionedLabel(key_labels::kAuditSigning, 1)) ||
          !(*store)->generateEcP256Key(key_labels::kTls)) {
        std::abort();
      }
    }
    // The listeners' certificate whose names a TLS request carries (its own key: only its names matter here).
    certFile = dir + "/server.pem";
    const std::string openssl =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
        "-subj /O=sealgate/CN=sealgate-test -addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
        "-keyout " +
        dir + "/server.key -out " + certFile + " 2>/dev/null";
    if (std::system(openssl.c_str()) != 0) std::abort();
    config.hsm.module = token.modulePath;
    config.hsm.tokenLabel = token.tokenLabel;
    config.hsm.pinFile = token.pin.file;
    config.hsm.tlsKeyLabel = key_labels::kTls;
    if (pinRefVersion) config.hsm.refKeyVersion = 1;
    keys = std::move(*ApplianceKeys::open(config));
    if (!keys->loadRefKeys()) std::abort();
    refs = std::make_unique<ResourceRefs>(keys->refMac(), 100);
    grants = std::move(*GrantAuthority::load(*keys->grantSigningKeys(), "sealgate-test"));
    openLog();
    reopen();
  }
  void openLog() {
    AuditLogOptions o;
    o.dir = dir + "/audit";
    o.origin = "sealgate-test";
    log = nullptr;
    log = std::move(*MerkleAuditLog::open(o, *keys->checkpointSigner()));
    sink = std::make_unique<SwitchableSink>(*log);
  }
  // A KeyRotation as a restarted daemon makes it, over the same state.
  void reopen() {
    rotation = std::make_unique<KeyRotation>(*keys, *refs, *grants, *log, *sink, state, kGrantLifetime,
                                             config.hsm.refKeyVersion != 0, certFile);
    if (!rotation->load()) std::abort();
  }
  std::string signGrant() {
    GrantClaims c;
    c.iss = c.aud = "sealgate-test";
    c.sub = "spiffe://acme/svc";
    c.jti = "g-" + std::to_string(++grantCount);
    c.decisionId = "d-" + c.jti;
    c.cnfX5t = "thumbprint";
    c.iat = c.nbf = kNow;
    c.exp = kNow + 60;
    c.res = {"rr1:v1:aaaaaaaaaaaaaaaaaaaaaaaaaa"};
    c.obl = json{{c.res[0], {{"use", json::object()}}}};
    return *grants->sign(c);
  }
  std::set<std::string> hsmLabels() {
    std::set<std::string> out;
    auto listed = keys->listKeys();
    if (!listed) std::abort();
    for (const auto& k : *listed) out.insert(k.label);
    return out;
  }
  ~Fixture() {
    rotation = nullptr;
    sink = nullptr;
    log = nullptr;
    std::filesystem::remove_all(dir);
  }
  Actor admin{"c1", "spiffe://sealgate-admin/admin/alice", "thumb", "", "admin"};
  std::string dir = testing::makeTempDir("sealgate-rotation");
  std::string certFile;
  Config config;
  std::unique_ptr<ApplianceKeys> keys;
  std::unique_ptr<ResourceRefs> refs;
  std::unique_ptr<GrantAuthority> grants;
  std::unique_ptr<MerkleAuditLog> log;
  std::unique_ptr<SwitchableSink> sink;
  MemoryStateStore state;
  std::unique_ptr<KeyRotation> rotation;
  int grantCount = 0;
};

std::chrono::system_clock::time_point at(std::int64_t unix) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(unix));
}

TEST(KeyRotation, KindNamesRoundTripAndUnknownOnesAreRefused) {
  for (auto kind : {VersionedKey::RefHmac, VersionedKey::Grant, VersionedKey::Audit, VersionedKey::Tls}) {
    EXPECT_EQ(versionedKeyFromName(versionedKeyName(kind)), kind);
  }
  EXPECT_FALSE(versionedKeyFromName("tls-v2"));
  EXPECT_FALSE(versionedKeyFromName("Grant"));
  EXPECT_FALSE(versionedKeyFromName(""));
}

TEST(KeyRotation, RefHmacRotationComputesNewRefsUnderTheNewVersionAndOldGrantsKeepTheirs) {
  Fixture f;
  const std::string uri = "secret://acme/kv/app/db#password";
  const std::string before = *f.refs->ofCanonical(uri);
  ASSERT_EQ(before.rfind("rr1:v1:", 0), 0u);

  auto rotated = f.rotation->rotate(VersionedKey::RefHmac, f.admin, "yearly", kNow);
  ASSERT_TRUE(rotated.ok()) << rotated.error().describe();
  EXPECT_EQ(rotated->label, "sealgate-ref-hmac-v2");
  EXPECT_EQ(rotated->previous, "sealgate-ref-hmac-v1");
  EXPECT_TRUE(f.hsmLabels().count("sealgate-ref-hmac-v2"));

  const std::string after = *f.refs->ofCanonical(uri);
  EXPECT_EQ(after.rfind("rr1:v2:", 0), 0u);
  EXPECT_NE(after.substr(7), before.substr(7));
  // A grant issued before names v1: execute recomputes the ref under v1.
  EXPECT_EQ(*f.refs->ofGranted(uri, {before}), before);
  EXPECT_EQ(*f.refs->ofGranted(uri, {after}), after);
  // Another URI under an old grant: its v1 ref, which the grant does not hold.
  EXPECT_EQ(f.refs->ofGranted("secret://acme/kv/other#x", {before})->rfind("rr1:v1:", 0), 0u);

  auto correlated = f.rotation->correlate(uri);
  ASSERT_TRUE(correlated.ok());
  ASSERT_EQ(correlated->size(), 2u);
  EXPECT_EQ((*correlated)[0].resourceRef, before);
  EXPECT_FALSE((*correlated)[0].active);
  EXPECT_EQ((*correlated)[1].resourceRef, after);
  EXPECT_TRUE((*correlated)[1].active);

  ASSERT_EQ(f.sink->events.size(), 1u);
  const json& e = f.sink->events[0];
  EXPECT_EQ(e["type"], "key_rotated");
  EXPECT_EQ(e["key_kind"], "ref-hmac");
  EXPECT_EQ(e["label"], "sealgate-ref-hmac-v2");
  EXPECT_EQ(e["previous"], "sealgate-ref-hmac-v1");
  EXPECT_EQ(e["reason"], "yearly");
  EXPECT_EQ(e["by"], f.admin.spiffeId);
}

TEST(KeyRotation, ARetiredRefVersionMakesGrantsNamingItUnusableAndStaysRetiredAfterARestart) {
  Fixture f;
  const std::string uri = "secret://acme/kv/app/db#password";
  const std::string old = *f.refs->ofCanonical(uri);
  ASSERT_TRUE(f.rotation->rotate(VersionedKey::RefHmac, f.admin, "", kNow).ok());

  auto early = f.rotation->retire("sealgate-ref-hmac-v1", f.admin, "", kRetirable - 1);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code, ErrorCode::KeyInUse);
  EXPECT_NE(early.error().message.find(std::to_string(kRetirable)), std::string::npos);
  EXPECT_EQ(*f.refs->ofGranted(uri, {old}), old);  // nothing changed

  auto retired = f.rotation->retire("sealgate-ref-hmac-v1", f.admin, "superseded", kRetirable);
  ASSERT_TRUE(retired.ok()) << retired.error().describe();
  EXPECT_FALSE(retired->already);
  EXPECT_EQ(f.refs->ofGranted(uri, {old}).error().code, ErrorCode::KeyRetired);
  EXPECT_TRUE(f.hsmLabels().count("sealgate-ref-hmac-v1")) << "retired, not destroyed";
  EXPECT_EQ(f.sink->events.back()["type"], "key_retired");
  EXPECT_EQ(f.sink->events.back()["label"], "sealgate-ref-hmac-v1");
  // Correlation names the retired version without a ref.
  auto correlated = *f.rotation->correlate(uri);
  EXPECT_TRUE(correlated[0].retired);
  EXPECT_TRUE(correlated[0].resourceRef.empty());

  // Again: nothing more happens.
  const auto events = f.sink->events.size();
  EXPECT_TRUE(f.rotation->retire("sealgate-ref-hmac-v1", f.admin, "", kRetirable + 10)->already);
  EXPECT_EQ(f.sink->events.size(), events);

  // A restarted daemon reads the retirement back from the state.
  f.refs = std::make_unique<ResourceRefs>(f.keys->refMac(), 100);
  ASSERT_FALSE(f.refs->retired(1));
  f.reopen();
  EXPECT_TRUE(f.refs->retired(1));
  EXPECT_EQ(f.refs->ofGranted(uri, {old}).error().code, ErrorCode::KeyRetired);
}

TEST(KeyRotation, GrantRotationSignsWithTheNewVersionAndOldGrantsVerifyUntilRetired) {
  Fixture f;
  const std::string oldGrant = f.signGrant();
  const std::string oldKid = f.grants->activeKid();
  ASSERT_TRUE(f.rotation->rotate(VersionedKey::Grant, f.admin, "", kNow).ok());
  EXPECT_EQ(f.grants->activeLabel(), "sealgate-grant-es256-v2");
  EXPECT_NE(f.grants->activeKid(), oldKid);
  const std::string newGrant = f.signGrant();
  auto oldVerified = f.grants->verify(oldGrant, at(kNow + 1));
  EXPECT_TRUE(oldVerified.ok()) << oldVerified.error().describe();
  EXPECT_TRUE(f.grants->verify(newGrant, at(kNow + 1)).ok());
  EXPECT_EQ(f.grants->jwks()["keys"].size(), 2u);

  auto active = f.rotation->retire("sealgate-grant-es256-v2", f.admin, "", kRetirable);
  ASSERT_FALSE(active.ok());
  EXPECT_EQ(active.error().code, ErrorCode::KeyActive);
  EXPECT_EQ(f.rotation->retire("sealgate-grant-es256-v9", f.admin, "", kRetirable).error().code, ErrorCode::KeyUnknown);
  EXPECT_EQ(f.rotation->retire("sealgate-kek", f.admin, "", kRetirable).error().code, ErrorCode::KeyUnknown);
  EXPECT_EQ(f.rotation->retire("sealgate-grant-es256-v1", f.admin, "", kNow + 10).error().code, ErrorCode::KeyInUse);

  ASSERT_TRUE(f.rotation->retire("sealgate-grant-es256-v1", f.admin, "", kRetirable).ok());
  auto refused = f.grants->verify(oldGrant, at(kNow + 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::KeyRetired);
  EXPECT_TRUE(f.grants->verify(newGrant, at(kNow + 1)).ok());
  EXPECT_EQ(f.grants->jwks()["keys"].size(), 1u);

  // Restarted: loaded from the HSM again, the retirement re-applied from the state.
  f.grants = std::move(*GrantAuthority::load(*f.keys->grantSigningKeys(), "sealgate-test"));
  ASSERT_TRUE(f.grants->verify(oldGrant, at(kNow + 1)).ok());
  f.reopen();
  EXPECT_EQ(f.grants->verify(oldGrant, at(kNow + 1)).error().code, ErrorCode::KeyRetired);
  EXPECT_TRUE(f.grants->verify(newGrant, at(kNow + 1)).ok());
}

TEST(KeyRotation, AuditRotationHandsOverAtACheckpointBothKeysSignAndTheBundleVerifiesWithBoth) {
  Fixture f;
  const Bytes v1 = f.log->signer().spkiDer;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.log->append(json{{"type", "before"}, {"i", i}}.dump()).ok());
  ASSERT_TRUE(f.rotation->rotate(VersionedKey::Audit, f.admin, "", kNow).ok());
  EXPECT_EQ(f.log->signer().keyLabel, "sealgate-audit-es256-v2");
  const Bytes v2 = f.log->signer().spkiDer;
  ASSERT_NE(v1, v2);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.log->append(json{{"type", "after"}, {"i", i}}.dump()).ok());

  // The handover: two checkpoints of one size, the first by v1, the second by v2.
  const auto cps = f.log->checkpoints();
  ASSERT_GE(cps.size(), 2u);
  bool handover = false;
  for (std::size_t i = 1; i < cps.size(); ++i) {
    if (cps[i].size == cps[i - 1].size) {
      handover = true;
      EXPECT_NE(cps[i].note, cps[i - 1].note);
    }
  }
  EXPECT_TRUE(handover);

  auto bundle = f.log->exportBundle();
  ASSERT_TRUE(bundle.ok());
  audit::VerifyOptions both;
  both.spkiDer = v2;
  both.moreKeys = {v1};
  auto verified = audit::verifyBundle(*bundle, both);
  EXPECT_TRUE(verified.ok()) << verified.error().describe();
  audit::VerifyOptions newOnly;
  newOnly.spkiDer = v2;
  EXPECT_FALSE(audit::verifyBundle(*bundle, newOnly).ok()) << "the early checkpoints are v1's alone";
  audit::VerifyOptions oldOnly;
  oldOnly.spkiDer = v1;
  EXPECT_FALSE(audit::verifyBundle(*bundle, oldOnly).ok()) << "the later checkpoints are v2's alone";

  // The log reopens under v2 (the highest version) with v1's checkpoints in it.
  f.rotation = nullptr;
  f.sink = nullptr;
  f.log = nullptr;
  f.openLog();
  f.reopen();
  EXPECT_EQ(f.log->signer().keyLabel, "sealgate-audit-es256-v2");
  EXPECT_EQ(f.log->size(), 7u);

  // An audit key is retirable at once (nothing depends on it); it stays listed.
  ASSERT_TRUE(f.rotation->retire("sealgate-audit-es256-v1", f.admin, "", kNow).ok());
  const json inventory = *f.rotation->inventory();
  bool listed = false;
  for (const auto& k : inventory["keys"]) {
    if (k["label"] != "sealgate-audit-es256-v1") continue;
    listed = true;
    EXPECT_TRUE(k["retired"].get<bool>());
    EXPECT_FALSE(k["active"].get<bool>());
    EXPECT_NE(k["public_key_pem"].get<std::string>().find("BEGIN PUBLIC KEY"), std::string::npos);
    EXPECT_EQ(k["note_key_id"].get<std::string>().size(), 8u);
  }
  EXPECT_TRUE(listed);
}

TEST(KeyRotation, AnUnrecordableRotationIsUndoneAndChangesNothing) {
  Fixture f;
  f.sink->down = true;
  auto refused = f.rotation->rotate(VersionedKey::Grant, f.admin, "", kNow);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::AuditUnavailable);
  EXPECT_FALSE(f.hsmLabels().count("sealgate-grant-es256-v2")) << "the unaudited key was destroyed again";
  EXPECT_EQ(f.grants->activeLabel(), "sealgate-grant-es256-v1");

  ASSERT_TRUE(f.rotation->rotate(VersionedKey::Grant, f.admin, "", kNow).error().code == ErrorCode::AuditUnavailable);
  f.sink->down = false;
  ASSERT_TRUE(f.rotation->rotate(VersionedKey::Grant, f.admin, "", kNow).ok());
  EXPECT_EQ(f.grants->activeLabel(), "sealgate-grant-es256-v2");
  f.sink->down = true;
  auto retire = f.rotation->retire("sealgate-grant-es256-v1", f.admin, "", kRetirable);
  EXPECT_EQ(retire.error().code, ErrorCode::AuditUnavailable);
  f.sink->down = false;
  const std::string grant = f.signGrant();
  EXPECT_TRUE(f.grants->verify(grant, at(kNow + 1)).ok());
  EXPECT_EQ(f.grants->labels().at("sealgate-grant-es256-v1"), false) << "not retired";
}

TEST(KeyRotation, APinnedRefVersionRefusesRotation) {
  Fixture f(/*pinRefVersion=*/true);
  auto refused = f.rotation->rotate(VersionedKey::RefHmac, f.admin, "", kNow);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::KeyVersionPinned);
  EXPECT_FALSE(f.hsmLabels().count("sealgate-ref-hmac-v2"));
  EXPECT_TRUE(f.sink->events.empty());
}

TEST(KeyRotation, ARecordThatDoesNotReadBackStopsTheLoadAsTampered) {
  Fixture f;
  for (const char* bad : {"not json", "[]", R"({"retired_at":"yesterday"})", R"({"superseded_at":1.5})",
                          R"({"retired_at":5,"retired_by":7})"}) {
    ASSERT_TRUE(f.state.putRecord({kKeyVersionRecordKind, "sealgate-grant-es256-v1", bad}).ok());
    KeyRotation rotation(*f.keys, *f.refs, *f.grants, *f.log, *f.sink, f.state, kGrantLifetime, false, f.certFile);
    auto loaded = rotation.load();
    ASSERT_FALSE(loaded.ok()) << bad;
    EXPECT_EQ(loaded.error().code, ErrorCode::StateTampered) << bad;
    EXPECT_EQ(rotation.retire("sealgate-grant-es256-v1", f.admin, "", kRetirable).error().code, ErrorCode::KeyActive);
    EXPECT_EQ(rotation.rotate(VersionedKey::Grant, f.admin, "", kNow).error().code, ErrorCode::StateTampered) << bad;
  }
  EXPECT_EQ(f.grants->activeLabel(), "sealgate-grant-es256-v1") << "nothing was rotated";
}

TEST(KeyRotation, TlsRotationCreatesTheNextKeyAndARequestForItsCertificateAndActivatesNothing) {
  Fixture f;
  auto rotated = f.rotation->rotate(VersionedKey::Tls, f.admin, "", kNow);
  ASSERT_TRUE(rotated.ok()) << rotated.error().describe();
  EXPECT_EQ(rotated->label, "sealgate-tls-v2");
  EXPECT_EQ(rotated->previous, "sealgate-tls");
  EXPECT_EQ(f.keys->tlsKeyLabel(), "sealgate-tls") << "active once its certificate is installed, not before";

  // The request: self-signed by the new key in the HSM, the names of the certificate in use.
  BioPtr in(BIO_new_mem_buf(rotated->certificateRequest.data(), static_cast<int>(rotated->certificateRequest.size())));
  OpensslPtr<X509_REQ, X509_REQ_free> req(PEM_read_bio_X509_REQ(in.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(req);
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
  ASSERT_NE(pub, nullptr);
  EXPECT_EQ(X509_REQ_verify(req.get(), pub), 1);
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(pub, &der);
  ASSERT_GT(len, 0);
  const Bytes spki(der, der + len);
  OPENSSL_free(der);
  EXPECT_EQ(spki, *f.keys->publicKeyDer("sealgate-tls-v2"));
  char cn[64] = "";
  X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req.get()), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "sealgate-test");
  OpensslPtr<STACK_OF(X509_EXTENSION),
             [](STACK_OF(X509_EXTENSION) * e) { sk_X509_EXTENSION_pop_free(e, X509_EXTENSION_free); }>
      exts(X509_REQ_get_extensions(req.get()));
  ASSERT_TRUE(exts);
  ASSERT_EQ(sk_X509_EXTENSION_num(exts.get()), 1);
  EXPECT_EQ(OBJ_obj2nid(X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts.get(), 0))), NID_subject_alt_name);
  EXPECT_EQ(f.sink->events.back()["key_kind"], "tls");

  // The next one is v3; the key in use cannot be retired, an unused one at once.
  EXPECT_EQ(f.rotation->rotate(VersionedKey::Tls, f.admin, "", kNow)->label, "sealgate-tls-v3");
  EXPECT_EQ(f.rotation->retire("sealgate-tls", f.admin, "", kNow).error().code, ErrorCode::KeyActive);
  ASSERT_TRUE(f.rotation->retire("sealgate-tls-v3", f.admin, "abandoned", kNow).ok());
  EXPECT_TRUE(f.rotation->isRetired("sealgate-tls-v3"));
  EXPECT_FALSE(f.rotation->isRetired("sealgate-tls-v2"));

  // Without a readable certificate in use there is no request, and no key is left behind.
  f.rotation->setTlsCertFile(f.dir + "/missing.pem");
  auto refused = f.rotation->rotate(VersionedKey::Tls, f.admin, "", kNow);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::TlsConfig);
  EXPECT_FALSE(f.hsmLabels().count("sealgate-tls-v4"));
}

TEST(KeyRotation, InventoryListsEveryVersionWithItsStateAndNoValue) {
  Fixture f;
  ASSERT_TRUE(f.rotation->rotate(VersionedKey::Grant, f.admin, "", kNow).ok());
  const json inv = *f.rotation->inventory();
  std::map<std::string, json> byLabel;
  for (const auto& k : inv["keys"]) byLabel[k["label"]] = k;
  ASSERT_EQ(byLabel.size(), 5u);  // ref v1, grant v1 and v2, audit v1, tls
  EXPECT_EQ(byLabel["sealgate-tls"]["kind"], "tls");
  EXPECT_TRUE(byLabel["sealgate-tls"]["active"].get<bool>());
  EXPECT_TRUE(byLabel["sealgate-grant-es256-v2"]["active"].get<bool>());
  EXPECT_FALSE(byLabel["sealgate-grant-es256-v1"]["active"].get<bool>());
  EXPECT_EQ(byLabel["sealgate-grant-es256-v1"]["superseded_at"], kNow);
  EXPECT_EQ(byLabel["sealgate-grant-es256-v1"]["retirable_at"], kRetirable);
  EXPECT_EQ(byLabel["sealgate-grant-es256-v1"]["version"], 1);
  EXPECT_EQ(byLabel["sealgate-ref-hmac-v1"]["kind"], "ref-hmac");
  EXPECT_FALSE(byLabel["sealgate-ref-hmac-v1"].contains("public_key_pem"));
  EXPECT_TRUE(byLabel["sealgate-ref-hmac-v1"]["active"].get<bool>());
}

}  // namespace
}  // namespace sealgate::appliance
