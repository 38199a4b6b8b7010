// KeyStore's key ceremonies: generating, importing and destroying keys, each
// with every attribute set explicitly; and initialising a fresh token.
#include <openssl/sha.h>

#include <cstring>
#include <iterator>

#include "core/p256_spki.h"
#include "hsm/key_store.h"
#include "hsm/pkcs11_module.h"
#include "hsm/session_pool.h"

namespace sealgate::hsm {
namespace {

const CK_BBOOL kTrue = CK_TRUE;
const CK_BBOOL kFalse = CK_FALSE;

// CKA_ID shared by the halves of a key pair, so libp11 can pair them: SHA-256(label)[:16].
Bytes keyIdFor(const std::string& label) {
  std::uint8_t d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(label.data()), label.size(), d);
  return Bytes(d, d + 16);
}

}  // namespace

Result<void> KeyStore::requireAbsent(CK_SESSION_HANDLE session, const std::string& label) {
  for (CK_OBJECT_CLASS cls : {CKO_SECRET_KEY, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
    auto h = findKey(session, label, cls, false);
    if (h.ok() || h.error().code == hsm_errc::kKeyAmbiguous) {
      return makeError(hsm_errc::kKeyExists, "a key labelled '" + label + "' already exists");
    }
    if (h.error().code != hsm_errc::kKeyNotFound) return std::move(h).takeError();
  }
  return Ok{};
}

// ---- keys ------------------------------------------------------------------------------

Result<void> KeyStore::generateHmacKey(const std::string& label, std::size_t bytes) {
  SEALGATE_TRY(requireMechanism(CKM_GENERIC_SECRET_KEY_GEN, "CKM_GENERIC_SECRET_KEY_GEN"));
  SEALGATE_TRY(requireMechanism(CKM_SHA256_HMAC, "CKM_SHA256_HMAC"));
  CK_MECHANISM_INFO info{};
  // The HMAC mechanism's range is what matters: a token may generate keys it
  // then refuses to MAC with (SoftHSM 2.6: 32-512 bytes for CKM_SHA256_HMAC).
  if (fns_->C_GetMechanismInfo(slot_, CKM_SHA256_HMAC, &info) == CKR_OK) {
    // PKCS#11 gives HMAC key sizes in bytes.
    if (bytes < info.ulMinKeySize || bytes > info.ulMaxKeySize) {
      return makeError(hsm_errc::kUnsupported,
                       "this token cannot make HMAC keys of " + std::to_string(bytes) + " bytes");
    }
  }
  return generateSecretKey(label, CKK_GENERIC_SECRET, CKM_GENERIC_SECRET_KEY_GEN, bytes, SecretKeyUse::Mac);
}

Result<void> KeyStore::generateAes256Key(const std::string& label) {
  SEALGATE_TRY(requireMechanism(CKM_AES_KEY_GEN, "CKM_AES_KEY_GEN"));
  SEALGATE_TRY(requireMechanism(CKM_AES_GCM, "CKM_AES_GCM"));
  return generateSecretKey(label, CKK_AES, CKM_AES_KEY_GEN, 32, SecretKeyUse::Encrypt);
}

// Every secret key gets the same explicit attributes; only the usage pair differs.
// `extra` carries CKA_VALUE_LEN (generation) or CKA_VALUE (import).
Result<void> KeyStore::makeSecretKey(const std::string& label, CK_KEY_TYPE type, SecretKeyUse use,
                                     const CK_MECHANISM* generate, CK_ATTRIBUTE extra) {
  auto lease = pool_->acquire();
  if (!lease) return std::move(lease).takeError();
  SEALGATE_TRY(requireAbsent(lease->handle(), label));
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  Bytes id = keyIdFor(label);
  const CK_BBOOL* mac = use == SecretKeyUse::Mac ? &kTrue : &kFalse;
  const CK_BBOOL* enc = use == SecretKeyUse::Encrypt ? &kTrue : &kFalse;
  CK_ATTRIBUTE tmpl[] = {
      ckAttribute(CKA_CLASS, &cls, sizeof cls),
      ckAttribute(CKA_KEY_TYPE, &type, sizeof type),
      extra,
      ckAttribute(CKA_LABEL, label.data(), label.size()),
      ckAttribute(CKA_ID, id.data(), id.size()),
      ckAttribute(CKA_TOKEN, &kTrue, 1),
      ckAttribute(CKA_PRIVATE, &kTrue, 1),
      ckAttribute(CKA_SENSITIVE, &kTrue, 1),
      ckAttribute(CKA_EXTRACTABLE, &kFalse, 1),
      ckAttribute(CKA_SIGN, mac, 1),
      ckAttribute(CKA_VERIFY, mac, 1),
      ckAttribute(CKA_ENCRYPT, enc, 1),
      ckAttribute(CKA_DECRYPT, enc, 1),
      ckAttribute(CKA_WRAP, &kFalse, 1),
      ckAttribute(CKA_UNWRAP, &kFalse, 1),
      ckAttribute(CKA_DERIVE, &kFalse, 1),
      ckAttribute(CKA_MODIFIABLE, &kFalse, 1),
      ckAttribute(CKA_COPYABLE, &kFalse, 1),
  };
  CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
  CK_RV rv;
  const char* op;
  if (generate != nullptr) {
    op = "C_GenerateKey";
    rv = fns_->C_GenerateKey(lease->handle(), const_cast<CK_MECHANISM*>(generate), tmpl, std::size(tmpl), &h);
  } else {
    op = "C_CreateObject";
    rv = fns_->C_CreateObject(lease->handle(), tmpl, std::size(tmpl), &h);
  }
  lease->note(rv);
  if (rv != CKR_OK) return pkcs11Error(op, rv);
  return Ok{};
}

Result<void> KeyStore::generateSecretKey(const std::string& label, CK_KEY_TYPE type, CK_MECHANISM_TYPE mechanism,
                                         std::size_t bytes, SecretKeyUse use) {
  CK_ULONG len = bytes;
  CK_MECHANISM mech{mechanism, nullptr, 0};
  return makeSecretKey(label, type, use, &mech, ckAttribute(CKA_VALUE_LEN, &len, sizeof len));
}

Result<void> KeyStore::generateEcP256Key(const std::string& label) {
  SEALGATE_TRY(requireMechanism(CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"));
  SEALGATE_TRY(requireMechanism(CKM_ECDSA, "CKM_ECDSA"));
  auto lease = pool_->acquire();
  if (!lease) return std::move(lease).takeError();
  SEALGATE_TRY(requireAbsent(lease->handle(), label));
  CK_OBJECT_CLASS pubCls = CKO_PUBLIC_KEY, privCls = CKO_PRIVATE_KEY;
  CK_KEY_TYPE type = CKK_EC;
  Bytes id = keyIdFor(label);
  CK_ATTRIBUTE pub[] = {
      ckAttribute(CKA_CLASS, &pubCls, sizeof pubCls),
      ckAttribute(CKA_KEY_TYPE, &type, sizeof type),
      ckAttribute(CKA_EC_PARAMS, kP256CurveOid.data(), kP256CurveOid.size()),
      ckAttribute(CKA_LABEL, label.data(), label.size()),
      ckAttribute(CKA_ID, id.data(), id.size()),
      ckAttribute(CKA_TOKEN, &kTrue, 1),
      ckAttribute(CKA_PRIVATE, &kFalse, 1),
      ckAttribute(CKA_VERIFY, &kTrue, 1),
      ckAttribute(CKA_ENCRYPT, &kFalse, 1),
      ckAttribute(CKA_WRAP, &kFalse, 1),
      ckAttribute(CKA_DERIVE, &kFalse, 1),
      ckAttribute(CKA_MODIFIABLE, &kFalse, 1),
      ckAttribute(CKA_COPYABLE, &kFalse, 1),
  };
  CK_ATTRIBUTE priv[] = {
      ckAttribute(CKA_CLASS, &privCls, sizeof privCls),
      ckAttribute(CKA_KEY_TYPE, &type, sizeof type),
      ckAttribute(CKA_LABEL, label.data(), label.size()),
      ckAttribute(CKA_ID, id.data(), id.size()),
      ckAttribute(CKA_TOKEN, &kTrue, 1),
      ckAttribute(CKA_PRIVATE, &kTrue, 1),
      ckAttribute(CKA_SENSITIVE, &kTrue, 1),
      ckAttribute(CKA_EXTRACTABLE, &kFalse, 1),
      ckAttribute(CKA_SIGN, &kTrue, 1),
      ckAttribute(CKA_SIGN_RECOVER, &kFalse, 1),
      ckAttribute(CKA_DECRYPT, &kFalse, 1),
      ckAttribute(CKA_UNWRAP, &kFalse, 1),
      ckAttribute(CKA_DERIVE, &kFalse, 1),
      ckAttribute(CKA_MODIFIABLE, &kFalse, 1),
      ckAttribute(CKA_COPYABLE, &kFalse, 1),
  };
  CK_MECHANISM mech{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  CK_OBJECT_HANDLE hPub = CK_INVALID_HANDLE, hPriv = CK_INVALID_HANDLE;
  CK_RV rv = fns_->C_GenerateKeyPair(lease->handle(), &mech, pub, std::size(pub), priv, std::size(priv), &hPub, &hPriv);
  lease->note(rv);
  if (rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_GENERAL_ERROR) {
    // We never retry with a looser template: a token that cannot make a key
    // restricted to signing (libtpm2-pkcs11's EC keys always sign and decrypt,
    // and it answers CKR_GENERAL_ERROR) gets no key at all. Only the explicit
    // template answers are certainly "unsupported"; a general error keeps its code.
    Error e = pkcs11Error("C_GenerateKeyPair", rv);
    if (rv != CKR_GENERAL_ERROR) e.code = hsm_errc::kUnsupported;
    e.message = "the token refused a sign-only, non-extractable EC P-256 key (" + e.message + ")";
    return e;
  }
  if (rv != CKR_OK) return pkcs11Error("C_GenerateKeyPair", rv);
  return Ok{};
}

Result<void> KeyStore::importHmacKey(const std::string& label, const Secret& value) {
  auto v = value.exposeSecretBytes();
  return makeSecretKey(label, CKK_GENERIC_SECRET, SecretKeyUse::Mac, nullptr,
                       ckAttribute(CKA_VALUE, v.data(), v.size()));
}

Result<void> KeyStore::importAesKey(const std::string& label, const Secret& value) {
  if (value.size() != 16 && value.size() != 24 && value.size() != 32) {
    return makeError(hsm_errc::kBadInput, "AES keys are 16, 24 or 32 bytes");
  }
  auto v = value.exposeSecretBytes();
  return makeSecretKey(label, CKK_AES, SecretKeyUse::Encrypt, nullptr, ckAttribute(CKA_VALUE, v.data(), v.size()));
}

Result<void> KeyStore::destroyKey(const std::string& label) {
  auto lease = pool_->acquire();
  if (!lease) return std::move(lease).takeError();
  bool any = false;
  for (CK_OBJECT_CLASS cls : {CKO_SECRET_KEY, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
    forgetHandle(label, cls);
    auto h = findKey(lease->handle(), label, cls, false);
    if (!h) {
      if (h.error().code == hsm_errc::kKeyNotFound) continue;
      return std::move(h).takeError();
    }
    CK_RV rv = fns_->C_DestroyObject(lease->handle(), *h);
    lease->note(rv);
    if (rv != CKR_OK) return pkcs11Error("C_DestroyObject", rv);
    any = true;
  }
  if (!any) return makeError(hsm_errc::kKeyNotFound, "no key labelled '" + label + "'");
  return Ok{};
}

// ---- token initialisation ------------------------------------------------------------

Result<void> initializeToken(const std::string& modulePath, const std::string& label, const Secret& soPin,
                             const Secret& userPin) {
  if (label.empty() || label.size() > 32) return makeError(hsm_errc::kBadInput, "token labels are 1-32 characters");
  auto mod = Pkcs11Module::load(modulePath);
  if (!mod) return std::move(mod).takeError();
  CK_FUNCTION_LIST* fns = (*mod)->functions();
  if ((*mod)->findToken(label).ok()) {
    return makeError(hsm_errc::kKeyExists, "a token labelled '" + label + "' already exists");
  }
  auto slot = (*mod)->findFreeSlot();
  if (!slot) return std::move(slot).takeError();
  unsigned char padded[32];
  std::memset(padded, ' ', sizeof padded);
  std::memcpy(padded, label.data(), label.size());
  auto so = soPin.exposeSecretBytes();
  CK_RV rv = fns->C_InitToken(*slot, const_cast<CK_UTF8CHAR*>(so.data()), so.size(), padded);
  if (rv != CKR_OK) return pkcs11Error("C_InitToken", rv);
  // SoftHSM moves the new token to a new slot id: find it again by label.
  auto newSlot = (*mod)->findToken(label);
  if (!newSlot) return std::move(newSlot).takeError();
  auto session = Pkcs11Session::open(fns, *newSlot);
  if (!session) return std::move(session).takeError();
  rv = fns->C_Login(session->handle(), CKU_SO, const_cast<CK_UTF8CHAR*>(so.data()), so.size());
  if (rv != CKR_OK) return pkcs11Error("C_Login", rv);
  auto user = userPin.exposeSecretBytes();
  rv = fns->C_InitPIN(session->handle(), const_cast<CK_UTF8CHAR*>(user.data()), user.size());
  fns->C_Logout(session->handle());
  if (rv != CKR_OK) return pkcs11Error("C_InitPIN", rv);
  return Ok{};
}

}  // namespace sealgate::hsm
