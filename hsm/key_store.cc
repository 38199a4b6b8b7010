// KeyStore: opening, the handle cache, and the operations that use keys in place.
#include "hsm/key_store.h"

#include <openssl/ecdsa.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>

#include "core/jws.h"
#include "core/key_labels.h"
#include "core/openssl_ptr.h"
#include "core/p256_spki.h"
#include "hsm/pkcs11_module.h"
#include "hsm/session_pool.h"

namespace sealgate::hsm {
namespace {

// Some modules reject a null data pointer even with length 0 (CKR_ARGUMENTS_BAD).
CK_BYTE* dataPtr(std::span<const std::uint8_t> s) {
  static CK_BYTE empty = 0;
  return s.empty() ? &empty : const_cast<CK_BYTE*>(s.data());
}

std::vector<CK_MECHANISM_TYPE> mechanismList(CK_FUNCTION_LIST* fns, CK_SLOT_ID slot) {
  CK_ULONG count = 0;
  std::vector<CK_MECHANISM_TYPE> out;
  if (fns->C_GetMechanismList(slot, nullptr, &count) != CKR_OK) return out;
  out.resize(count);
  if (fns->C_GetMechanismList(slot, out.data(), &count) != CKR_OK) count = 0;
  out.resize(count);
  return out;
}

// X.509 and TLS want DER: SEQUENCE { r INTEGER, s INTEGER }.
Result<Bytes> ecdsaRawToDer(const Bytes& raw) {
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BignumPtr r(BN_bin2bn(raw.data(), 32, nullptr));
  BignumPtr s(BN_bin2bn(raw.data() + 32, 32, nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return makeError(hsm_errc::kOperation, "cannot encode the ECDSA signature");
  }
  (void)r.release();  // owned by sig now
  (void)s.release();
  int derLen = i2d_ECDSA_SIG(sig.get(), nullptr);
  Bytes der(derLen > 0 ? static_cast<std::size_t>(derLen) : 0);
  unsigned char* p = der.data();
  if (derLen <= 0 || i2d_ECDSA_SIG(sig.get(), &p) != derLen) {
    return makeError(hsm_errc::kOperation, "cannot encode the ECDSA signature");
  }
  return der;
}

}  // namespace

// ---- opening -------------------------------------------------------------------------

KeyStore::KeyStore() = default;

Result<std::unique_ptr<KeyStore>> KeyStore::open(const KeyStoreConfig& config) {
  if (config.maxSessions == 0) return makeError(hsm_errc::kBadInput, "maxSessions must be at least 1");
  std::unique_ptr<KeyStore> ks(new KeyStore());
  ks->config_ = config;
  auto pin = readPin(config.pin);
  if (!pin) return std::move(pin).takeError();
  auto mod = Pkcs11Module::load(config.modulePath);
  if (!mod) return std::move(mod).takeError();
  ks->module_ = *mod;
  ks->fns_ = (*mod)->functions();
  auto slot = (*mod)->findToken(config.tokenLabel);
  if (!slot) return std::move(slot).takeError();
  ks->slot_ = *slot;
  ks->mechanisms_ = mechanismList(ks->fns_, ks->slot_);
  auto pool = SessionPool::open(ks->fns_, ks->slot_, std::move(*pin), {config.maxSessions, config.sessionWait});
  if (!pool) return std::move(pool).takeError();
  ks->pool_ = std::move(*pool);
  return ks;
}

KeyStore::~KeyStore() = default;

// ---- key lookup ----------------------------------------------------------------------

Result<CK_OBJECT_HANDLE> KeyStore::findKey(CK_SESSION_HANDLE session, const std::string& label, CK_OBJECT_CLASS cls,
                                           bool useCache) {
  if (useCache) {
    std::lock_guard lock(cacheMu_);
    if (auto it = handles_.find({label, cls}); it != handles_.end()) return it->second;
  }
  auto found = findObjectByLabel(fns_, session, label, cls);
  if (found && useCache) {
    std::lock_guard lock(cacheMu_);
    handles_[{label, cls}] = *found;
  }
  return found;
}

void KeyStore::forgetHandle(const std::string& label, CK_OBJECT_CLASS cls) {
  std::lock_guard lock(cacheMu_);
  handles_.erase({label, cls});
}

// Runs fn(lease, handle) with a pooled session and the cached handle of `label`;
// a stale cached handle (key deleted/recreated) is looked up again once.
template <typename Fn>
auto KeyStore::withKey(const std::string& label, CK_OBJECT_CLASS cls, Fn&& fn)
    -> decltype(fn(std::declval<SessionLease&>(), CK_OBJECT_HANDLE{})) {
  auto lease = pool_->acquire();
  if (!lease) return std::move(lease).takeError();
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto h = findKey(lease->handle(), label, cls);
    if (!h) return std::move(h).takeError();
    auto result = fn(*lease, *h);
    if (!result.ok() && isStaleHandle(result.error().native) && attempt == 0) {
      forgetHandle(label, cls);
      continue;
    }
    return result;
  }
  return makeError(hsm_errc::kKeyNotFound, "key '" + label + "' vanished");
}

bool KeyStore::supportsMechanism(CK_MECHANISM_TYPE mechanism) const {
  return std::find(mechanisms_.begin(), mechanisms_.end(), mechanism) != mechanisms_.end();
}

Result<void> KeyStore::requireMechanism(CK_MECHANISM_TYPE mechanism, const char* name) const {
  if (!supportsMechanism(mechanism)) {
    Error e = makeError(hsm_errc::kUnsupported, std::string("this token does not support ") + name);
    e.operation = "C_GetMechanismList";
    e.native = CKR_MECHANISM_INVALID;
    return e;
  }
  return Ok{};
}

// ---- operations ----------------------------------------------------------------------

void KeyStore::setObserver(OperationObserver observer) { observer_ = std::move(observer); }

template <typename R>
R KeyStore::observed(const char* operation, std::chrono::steady_clock::time_point started, R result) const {
  if (observer_) {
    observer_(operation, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
              result.ok());
  }
  return result;
}

Result<Mac256> KeyStore::hmacSha256(const std::string& label, std::span<const std::uint8_t> data) {
  const auto started = std::chrono::steady_clock::now();
  return observed("hmac", started,
                  withKey(label, CKO_SECRET_KEY, [&](SessionLease& s, CK_OBJECT_HANDLE key) -> Result<Mac256> {
                    CK_MECHANISM mech{CKM_SHA256_HMAC, nullptr, 0};
                    CK_RV rv = fns_->C_SignInit(s.handle(), &mech, key);
                    s.note(rv);
                    if (rv != CKR_OK) return pkcs11Error("C_SignInit", rv);
                    Mac256 out{};
                    CK_ULONG len = out.size();
                    rv = fns_->C_Sign(s.handle(), dataPtr(data), data.size(), out.data(), &len);
                    s.note(rv);
                    if (rv != CKR_OK) return pkcs11Error("C_Sign", rv);
                    if (len != out.size()) return makeError(hsm_errc::kOperation, "HMAC-SHA256 returned a short MAC");
                    return out;
                  }));
}

Result<Bytes> KeyStore::signEcdsaP256(const std::string& label, std::span<const std::uint8_t> data,
                                      SignatureFormat format) {
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(data.data(), data.size(), digest);
  const auto started = std::chrono::steady_clock::now();
  auto raw = observed("sign", started,
                      withKey(label, CKO_PRIVATE_KEY, [&](SessionLease& s, CK_OBJECT_HANDLE key) -> Result<Bytes> {
                        CK_MECHANISM mech{CKM_ECDSA, nullptr, 0};
                        CK_RV rv = fns_->C_SignInit(s.handle(), &mech, key);
                        s.note(rv);
                        if (rv != CKR_OK) return pkcs11Error("C_SignInit", rv);
                        Bytes sig(64);
                        CK_ULONG len = sig.size();
                        rv = fns_->C_Sign(s.handle(), digest, sizeof digest, sig.data(), &len);
                        s.note(rv);
                        if (rv != CKR_OK) return pkcs11Error("C_Sign", rv);
                        if (len != 64) return makeError(hsm_errc::kOperation, "ECDSA P-256 signature is not 64 bytes");
                        return sig;
                      }));
  if (!raw || format == SignatureFormat::RawRS) return raw;
  return ecdsaRawToDer(*raw);
}

Result<Bytes> KeyStore::publicKeyDer(const std::string& label) {
  return withKey(label, CKO_PUBLIC_KEY, [&](SessionLease& s, CK_OBJECT_HANDLE key) -> Result<Bytes> {
    std::uint8_t point[80] = {};
    CK_ATTRIBUTE a = ckAttribute(CKA_EC_POINT, point, sizeof point);
    CK_RV rv = fns_->C_GetAttributeValue(s.handle(), key, &a, 1);
    s.note(rv);
    if (rv != CKR_OK) return pkcs11Error("C_GetAttributeValue", rv);
    // CKA_EC_POINT is a DER OCTET STRING around 04||X||Y (some tokens return it bare).
    std::span<const std::uint8_t> q(point, a.ulValueLen);
    if (q.size() == 67 && q[0] == 0x04 && q[1] == 65) q = q.subspan(2);
    if (q.size() != 65 || q[0] != 0x04) return makeError(hsm_errc::kUnsupported, "not an uncompressed P-256 point");
    return ecP256Spki(EcPublicJwk{Bytes(q.begin() + 1, q.begin() + 33), Bytes(q.begin() + 33, q.end())});
  });
}

Result<Bytes> KeyStore::aesGcmEncrypt(const std::string& label, std::span<const std::uint8_t> iv,
                                      std::span<const std::uint8_t> aad, std::span<const std::uint8_t> plaintext) {
  SEALGATE_TRY(requireMechanism(CKM_AES_GCM, "CKM_AES_GCM"));
  if (iv.size() != 12) return makeError(hsm_errc::kBadInput, "AES-GCM IVs are 12 bytes");
  const auto started = std::chrono::steady_clock::now();
  return observed("encrypt", started,
                  withKey(label, CKO_SECRET_KEY, [&](SessionLease& s, CK_OBJECT_HANDLE key) -> Result<Bytes> {
                    CK_GCM_PARAMS params{dataPtr(iv), iv.size(), iv.size() * 8, dataPtr(aad), aad.size(), 128};
                    CK_MECHANISM mech{CKM_AES_GCM, &params, sizeof params};
                    CK_RV rv = fns_->C_EncryptInit(s.handle(), &mech, key);
                    s.note(rv);
                    if (rv != CKR_OK) return pkcs11Error("C_EncryptInit", rv);
                    Bytes out(plaintext.size() + 16);
                    CK_ULONG len = out.size();
                    rv = fns_->C_Encrypt(s.handle(), dataPtr(plaintext), plaintext.size(), out.data(), &len);
                    s.note(rv);
                    if (rv != CKR_OK) return pkcs11Error("C_Encrypt", rv);
                    out.resize(len);
                    return out;
                  }));
}

Result<Secret> KeyStore::aesGcmDecrypt(const std::string& label, std::span<const std::uint8_t> iv,
                                       std::span<const std::uint8_t> aad,
                                       std::span<const std::uint8_t> ciphertextAndTag) {
  SEALGATE_TRY(requireMechanism(CKM_AES_GCM, "CKM_AES_GCM"));
  if (iv.size() != 12) return makeError(hsm_errc::kBadInput, "AES-GCM IVs are 12 bytes");
  if (ciphertextAndTag.size() < 16) return makeError(hsm_errc::kDecrypt, "AES-GCM decryption failed");
  const auto started = std::chrono::steady_clock::now();
  return observed("decrypt", started,
                  withKey(label, CKO_SECRET_KEY, [&](SessionLease& s, CK_OBJECT_HANDLE key) -> Result<Secret> {
                    CK_GCM_PARAMS params{dataPtr(iv), iv.size(), iv.size() * 8, dataPtr(aad), aad.size(), 128};
                    CK_MECHANISM mech{CKM_AES_GCM, &params, sizeof params};
                    CK_RV rv = fns_->C_DecryptInit(s.handle(), &mech, key);
                    s.note(rv);
                    if (rv != CKR_OK) return pkcs11Error("C_DecryptInit", rv);
                    auto out = Secret::allocate(ciphertextAndTag.size());
                    if (!out) return out;
                    CK_ULONG len = out->size();
                    rv = fns_->C_Decrypt(s.handle(), dataPtr(ciphertextAndTag), ciphertextAndTag.size(),
                                         out->exposeSecretBytesMutable().data(), &len);
                    s.note(rv);
                    if (rv != CKR_OK) {
                      // SoftHSM reports a bad tag as CKR_GENERAL_ERROR: every failure here is an
                      // authentication failure, with one code and no detail about which part differed.
                      if (isStaleHandle(rv)) return pkcs11Error("C_Decrypt", rv);
                      Error e = makeError(hsm_errc::kDecrypt, "AES-GCM decryption failed");
                      e.operation = "C_Decrypt";
                      e.native = rv;
                      return e;
                    }
                    out->truncate(len);
                    return out;
                  }));
}

// ---- resource_ref MAC ------------------------------------------------------------------

HsmRefMac::HsmRefMac(KeyStore& store, unsigned version)
    : store_(store), version_(version), label_(versionedLabel(key_labels::kRefHmac, version)) {}

Result<Mac256> HsmRefMac::mac(std::string_view data) { return store_.hmacSha256(label_, asBytes(data)); }

}  // namespace sealgate::hsm
