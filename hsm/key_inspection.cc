// KeyStore's inspection: what keys there are (labels, types, fingerprints and
// attributes, never values), their versions, the token's status and health.
#include <openssl/sha.h>

#include <algorithm>
#include <iterator>
#include <optional>

#include "core/key_labels.h"
#include "hsm/key_store.h"
#include "hsm/pkcs11_module.h"
#include "hsm/session_pool.h"

namespace sealgate::hsm {
namespace {

constexpr std::string_view kKeyCheckConstant = "sealgate-key-check";

// The object a key of this kind is used through.
CK_OBJECT_CLASS usedObjectClass(KeyKind kind) { return kind == KeyKind::EcP256 ? CKO_PRIVATE_KEY : CKO_SECRET_KEY; }

}  // namespace

std::string_view keyKindName(KeyKind kind) {
  switch (kind) {
    case KeyKind::HmacSha256:
      return "hmac-sha256";
    case KeyKind::EcP256:
      return "ec-p256";
    case KeyKind::Aes256:
      return "aes-256";
  }
  return "unknown";
}

Result<KeyInfo> KeyStore::describe(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE h) {
  KeyInfo info;
  char label[256] = {};
  CK_OBJECT_CLASS cls = 0;
  CK_KEY_TYPE type = 0;
  CK_ATTRIBUTE base[] = {ckAttribute(CKA_LABEL, label, sizeof label), ckAttribute(CKA_CLASS, &cls, sizeof cls),
                         ckAttribute(CKA_KEY_TYPE, &type, sizeof type)};
  CK_RV rv = fns_->C_GetAttributeValue(session, h, base, std::size(base));
  if (rv != CKR_OK) return pkcs11Error("C_GetAttributeValue", rv);
  info.label.assign(label, base[0].ulValueLen);

  static constexpr std::pair<CK_ATTRIBUTE_TYPE, const char*> kFlags[] = {
      {CKA_TOKEN, "TOKEN"},
      {CKA_PRIVATE, "PRIVATE"},
      {CKA_SENSITIVE, "SENSITIVE"},
      {CKA_EXTRACTABLE, "EXTRACTABLE"},
      {CKA_ALWAYS_SENSITIVE, "ALWAYS_SENSITIVE"},
      {CKA_NEVER_EXTRACTABLE, "NEVER_EXTRACTABLE"},
      {CKA_SIGN, "SIGN"},
      {CKA_VERIFY, "VERIFY"},
      {CKA_ENCRYPT, "ENCRYPT"},
      {CKA_DECRYPT, "DECRYPT"},
      {CKA_WRAP, "WRAP"},
      {CKA_UNWRAP, "UNWRAP"},
      {CKA_DERIVE, "DERIVE"},
      {CKA_MODIFIABLE, "MODIFIABLE"},
      {CKA_COPYABLE, "COPYABLE"},
  };
  for (auto [type, name] : kFlags) {
    CK_BBOOL v = CK_FALSE;
    CK_ATTRIBUTE a = ckAttribute(type, &v, sizeof v);
    if (fns_->C_GetAttributeValue(session, h, &a, 1) == CKR_OK) info.attributes[name] = v == CK_TRUE;
  }

  CK_ULONG valueLen = 0;
  CK_ATTRIBUTE lenAttr = ckAttribute(CKA_VALUE_LEN, &valueLen, sizeof valueLen);
  if (type == CKK_EC) {
    info.kind = KeyKind::EcP256;
    info.bits = 256;
  } else if (type == CKK_AES) {
    info.kind = KeyKind::Aes256;
    if (fns_->C_GetAttributeValue(session, h, &lenAttr, 1) == CKR_OK) info.bits = valueLen * 8;
  } else if (type == CKK_GENERIC_SECRET || type == CKK_SHA256_HMAC) {
    info.kind = KeyKind::HmacSha256;
    if (fns_->C_GetAttributeValue(session, h, &lenAttr, 1) == CKR_OK) info.bits = valueLen * 8;
  } else {
    return makeError(hsm_errc::kUnsupported, "key '" + info.label + "' has an unsupported type");
  }
  return info;
}

// Uses the key, so it must run without holding a session lease of its own.
void KeyStore::addFingerprint(KeyInfo& info) {
  const std::span<const std::uint8_t> checkData = asBytes(kKeyCheckConstant);
  switch (info.kind) {
    case KeyKind::EcP256:
      if (auto spki = publicKeyDer(info.label)) {
        std::uint8_t d[SHA256_DIGEST_LENGTH];
        SHA256(spki->data(), spki->size(), d);
        info.fingerprint = "sha256:" + hexLower(d);
      }
      break;
    case KeyKind::Aes256: {
      const std::uint8_t zeroIv[12] = {};
      if (auto kcv = aesGcmEncrypt(info.label, zeroIv, {}, checkData)) {
        info.fingerprint = "kcv:" + hexLower(std::span(kcv->data(), 8));
      }
      break;
    }
    case KeyKind::HmacSha256:
      if (auto kcv = hmacSha256(info.label, checkData)) {
        info.fingerprint = "kcv:" + hexLower(std::span(kcv->data(), 8));
      }
      break;
  }
  if (info.fingerprint.empty()) info.fingerprint = "unavailable";
}

Result<std::vector<KeyInfo>> KeyStore::listKeys() {
  std::vector<KeyInfo> out;
  {
    auto lease = pool_->acquire();
    if (!lease) return std::move(lease).takeError();
    for (CK_OBJECT_CLASS cls : {CKO_SECRET_KEY, CKO_PRIVATE_KEY}) {
      auto found = findObjectsOfClass(fns_, lease->handle(), cls);
      if (!found) {
        lease->note(found.error().native);
        return std::move(found).takeError();
      }
      for (CK_OBJECT_HANDLE h : *found) {
        auto info = describe(lease->handle(), h);
        if (info) out.push_back(std::move(*info));
      }
    }
  }
  // Fingerprints use the keys, so they are taken after the lease is back.
  for (auto& info : out) addFingerprint(info);
  std::sort(out.begin(), out.end(), [](const KeyInfo& a, const KeyInfo& b) { return a.label < b.label; });
  return out;
}

Result<KeyInfo> KeyStore::keyInfo(const std::string& label) {
  std::optional<Result<KeyInfo>> info;
  {
    auto lease = pool_->acquire();
    if (!lease) return std::move(lease).takeError();
    for (CK_OBJECT_CLASS cls : {CKO_SECRET_KEY, CKO_PRIVATE_KEY}) {
      auto h = findKey(lease->handle(), label, cls);
      if (h) {
        info = describe(lease->handle(), *h);
        break;
      }
      if (h.error().code != hsm_errc::kKeyNotFound) return std::move(h).takeError();
    }
  }
  if (!info) return makeError(hsm_errc::kKeyNotFound, "no key labelled '" + label + "'");
  if (info->ok()) addFingerprint(info->value());
  return std::move(*info);
}

// The highest N among the labels `<prefix>-vN` of objects of the given classes.
Result<unsigned> KeyStore::highestVersion(SessionLease& lease, const std::string& prefix,
                                          std::initializer_list<CK_OBJECT_CLASS> classes) {
  unsigned best = 0;
  for (CK_OBJECT_CLASS cls : classes) {
    auto found = findObjectsOfClass(fns_, lease.handle(), cls);
    if (!found) {
      lease.note(found.error().native);
      return std::move(found).takeError();
    }
    for (CK_OBJECT_HANDLE h : *found) {
      char label[256] = {};
      CK_ATTRIBUTE a = ckAttribute(CKA_LABEL, label, sizeof label);
      if (fns_->C_GetAttributeValue(lease.handle(), h, &a, 1) != CKR_OK) continue;
      if (auto v = parseVersionedLabel(std::string_view(label, a.ulValueLen), prefix)) best = std::max(best, *v);
    }
  }
  if (best == 0) return makeError(hsm_errc::kKeyNotFound, "no key labelled " + prefix + "-vN");
  return best;
}

Result<unsigned> KeyStore::activeVersion(const std::string& prefix) {
  auto lease = pool_->acquire();
  if (!lease) return std::move(lease).takeError();
  return highestVersion(*lease, prefix, {CKO_SECRET_KEY, CKO_PRIVATE_KEY});
}

Result<TokenStatus> KeyStore::status() {
  TokenStatus st;
  st.modulePath = config_.modulePath;
  CK_TOKEN_INFO info{};
  CK_RV rv = fns_->C_GetTokenInfo(slot_, &info);
  if (rv != CKR_OK) return pkcs11Error("C_GetTokenInfo", rv);
  st.tokenLabel = fromPaddedField(info.label, sizeof info.label);
  st.manufacturer = fromPaddedField(info.manufacturerID, sizeof info.manufacturerID);
  st.model = fromPaddedField(info.model, sizeof info.model);
  st.serial = fromPaddedField(info.serialNumber, sizeof info.serialNumber);
  auto lease = pool_->acquire();
  if (!lease) return std::move(lease).takeError();
  CK_SESSION_INFO si{};
  rv = fns_->C_GetSessionInfo(lease->handle(), &si);
  lease->note(rv);
  if (rv != CKR_OK) return pkcs11Error("C_GetSessionInfo", rv);
  st.loggedIn = si.state == CKS_RW_USER_FUNCTIONS || si.state == CKS_RO_USER_FUNCTIONS;
  st.openSessions = pool_->openSessions();
  return st;
}

Result<KeyStoreHealth> KeyStore::health(std::span<const ExpectedKey> expected) {
  auto st = status();
  if (!st) return std::move(st).takeError();
  if (!st->loggedIn) return makeError(hsm_errc::kNotLoggedIn, "the token's sessions are not logged in");
  auto lease = pool_->acquire();
  if (!lease) return std::move(lease).takeError();
  // Any failure to find a key (absent, ambiguous, refused) counts it as missing;
  // no cached handle is used, so a deleted key shows at once.
  KeyStoreHealth health;
  for (const ExpectedKey& key : expected) {
    const CK_OBJECT_CLASS cls = usedObjectClass(key.kind);
    if (key.match == ExpectedKey::Match::AnyVersion) {
      if (!highestVersion(*lease, key.label, {cls})) health.missing.push_back(key.label + "-vN");
    } else if (!findKey(lease->handle(), key.label, cls, /*useCache=*/false)) {
      health.missing.push_back(key.label);
    }
  }
  return health;
}

}  // namespace sealgate::hsm
