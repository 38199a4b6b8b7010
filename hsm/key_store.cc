#include "hsm/key_store.h"

#include "core/jws.h"
#include "core/key_labels.h"
#include "core/openssl_ptr.h"
#include "core/p256_spki.h"

#include <dlfcn.h>
#include <openssl/ecdsa.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

namespace sealgate::hsm {
namespace {

// Some modules reject a null data pointer even with length 0 (CKR_ARGUMENTS_BAD).
CK_BYTE* dataPtr(std::span<const std::uint8_t> s) {
  static CK_BYTE empty = 0;
  return s.empty() ? &empty : const_cast<CK_BYTE*>(s.data());
}

constexpr std::string_view kKeyCheckConstant = "sealgate-key-check";

const char* rvName(CK_RV rv) {
  switch (rv) {
    case CKR_OK: return "CKR_OK";
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
    case CKR_ATTRIBUTE_SENSITIVE: return "CKR_ATTRIBUTE_SENSITIVE";
    case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
    case CKR_ATTRIBUTE_TYPE_INVALID: return "CKR_ATTRIBUTE_TYPE_INVALID";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
    case CKR_ENCRYPTED_DATA_INVALID: return "CKR_ENCRYPTED_DATA_INVALID";
    case CKR_FUNCTION_NOT_SUPPORTED: return "CKR_FUNCTION_NOT_SUPPORTED";
    case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
    case CKR_KEY_SIZE_RANGE: return "CKR_KEY_SIZE_RANGE";
    case CKR_KEY_FUNCTION_NOT_PERMITTED: return "CKR_KEY_FUNCTION_NOT_PERMITTED";
    case CKR_KEY_UNEXTRACTABLE: return "CKR_KEY_UNEXTRACTABLE";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_MECHANISM_PARAM_INVALID: return "CKR_MECHANISM_PARAM_INVALID";
    case CKR_OBJECT_HANDLE_INVALID: return "CKR_OBJECT_HANDLE_INVALID";
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
    case CKR_SESSION_CLOSED: return "CKR_SESSION_CLOSED";
    case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
    case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
    case CKR_TEMPLATE_INCOMPLETE: return "CKR_TEMPLATE_INCOMPLETE";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
    default: return "CKR_?";
  }
}

bool isUnsupported(CK_RV rv) {
  return rv == CKR_MECHANISM_INVALID || rv == CKR_FUNCTION_NOT_SUPPORTED || rv == CKR_KEY_SIZE_RANGE ||
         rv == CKR_MECHANISM_PARAM_INVALID;
}

bool isSessionFatal(CK_RV rv) {
  return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED || rv == CKR_DEVICE_REMOVED ||
         rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_DEVICE_ERROR || rv == CKR_USER_NOT_LOGGED_IN ||
         rv == CKR_CRYPTOKI_NOT_INITIALIZED;
}

bool isStaleHandle(CK_RV rv) { return rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID; }

std::string trimPadded(const unsigned char* p, std::size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

// ---- process-wide module registry ------------------------------------------------
// C_Initialize/C_Finalize are per process and per library, so every KeyStore on
// the same module path shares one initialised handle.
struct LoadedModule {
  void* dl = nullptr;
  CK_FUNCTION_LIST* fns = nullptr;
  ~LoadedModule() {
    if (fns != nullptr) fns->C_Finalize(nullptr);
    if (dl != nullptr) dlclose(dl);
  }
};

std::mutex gModulesMu;
std::map<std::string, std::weak_ptr<LoadedModule>>& modules() {
  static auto* m = new std::map<std::string, std::weak_ptr<LoadedModule>>();
  return *m;
}

Result<std::shared_ptr<LoadedModule>> loadModule(const std::string& path) {
  std::lock_guard lock(gModulesMu);
  if (auto existing = modules()[path].lock()) return existing;
  auto mod = std::make_shared<LoadedModule>();
  mod->dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (mod->dl == nullptr) {
    return makeError(hsm_errc::kModule, "cannot load PKCS#11 module " + path + ": " + dlerror());
  }
  auto getList = reinterpret_cast<CK_C_GetFunctionList>(dlsym(mod->dl, "C_GetFunctionList"));
  if (getList == nullptr) return makeError(hsm_errc::kModule, "module has no C_GetFunctionList: " + path);
  CK_RV rv = getList(&mod->fns);
  if (rv != CKR_OK || mod->fns == nullptr) {
    mod->fns = nullptr;
    return pkcs11Error("C_GetFunctionList", rv);
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  rv = mod->fns->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    mod->fns = nullptr;
    auto e = pkcs11Error("C_Initialize", rv);
    e.code = hsm_errc::kModule;
    return e;
  }
  modules()[path] = mod;
  return mod;
}

Result<CK_SLOT_ID> findSlotByTokenLabel(CK_FUNCTION_LIST* fns, const std::string& label, bool wantFree) {
  CK_ULONG count = 0;
  CK_RV rv = fns->C_GetSlotList(CK_TRUE, nullptr, &count);
  if (rv != CKR_OK) return pkcs11Error("C_GetSlotList", rv);
  std::vector<CK_SLOT_ID> slots(count);
  rv = fns->C_GetSlotList(CK_TRUE, slots.data(), &count);
  if (rv != CKR_OK) return pkcs11Error("C_GetSlotList", rv);
  slots.resize(count);
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    if (fns->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    const bool initialized = (info.flags & CKF_TOKEN_INITIALIZED) != 0;
    if (wantFree ? !initialized : (initialized && trimPadded(info.label, sizeof info.label) == label)) {
      return slot;
    }
  }
  return makeError(hsm_errc::kTokenNotFound,
                   wantFree ? "no uninitialised token slot" : "no token labelled '" + label + "'");
}

CK_ATTRIBUTE attr(CK_ATTRIBUTE_TYPE type, const void* value, std::size_t len) {
  return CK_ATTRIBUTE{type, const_cast<void*>(value), static_cast<CK_ULONG>(len)};
}

// CKA_ID shared by the halves of a key pair, so libp11 can pair them: SHA-256(label)[:16].
Bytes keyIdFor(const std::string& label) {
  std::uint8_t d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(label.data()), label.size(), d);
  return Bytes(d, d + 16);
}

const CK_BBOOL kTrue = CK_TRUE;
const CK_BBOOL kFalse = CK_FALSE;

}  // namespace

Error pkcs11Error(const char* operation, CK_RV rv) {
  Error e;
  e.code = isUnsupported(rv) ? hsm_errc::kUnsupported
           : (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_LEN_RANGE) ? hsm_errc::kPin
                                                                                          : hsm_errc::kOperation;
  e.message = std::string(operation) + " failed with " + rvName(rv);
  e.operation = operation;
  e.native = rv;
  return e;
}

std::string_view keyKindName(KeyKind kind) {
  switch (kind) {
    case KeyKind::HmacSha256: return "hmac-sha256";
    case KeyKind::EcP256: return "ec-p256";
    case KeyKind::Aes256: return "aes-256";
  }
  return "unknown";
}

Result<Secret> readPin(const PinSource& source) {
  if (!source.file.empty() && !source.envVar.empty()) {
    return makeError(hsm_errc::kPin, "configure either a PIN file or a PIN environment variable, not both");
  }
  if (!source.envVar.empty()) {
    const char* value = std::getenv(source.envVar.c_str());
    if (value == nullptr || *value == '\0') {
      return makeError(hsm_errc::kPin, "PIN environment variable " + source.envVar + " is not set");
    }
    return Secret::copyFrom(std::string_view(value));
  }
  if (source.file.empty()) return makeError(hsm_errc::kPin, "no PIN source configured");
  struct stat st {};
  if (::stat(source.file.c_str(), &st) != 0) {
    return makeError(hsm_errc::kPin, "cannot stat PIN file " + source.file);
  }
  if ((st.st_mode & 077) != 0) {
    return makeError(hsm_errc::kPin, "PIN file " + source.file + " must not be readable by group or others (chmod 600)");
  }
  std::ifstream in(source.file, std::ios::binary);
  if (!in) return makeError(hsm_errc::kPin, "cannot read PIN file " + source.file);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto pin = Secret::copyFrom(raw);
  secureWipe(raw.data(), raw.size());
  if (!pin) return pin;
  std::size_t n = pin->size();
  auto bytes = pin->exposeSecretBytes();
  while (n > 0 && (bytes[n - 1] == '\n' || bytes[n - 1] == '\r')) --n;
  pin->truncate(n);
  if (pin->empty()) return makeError(hsm_errc::kPin, "PIN file " + source.file + " is empty");
  return pin;
}

// ---- sessions ----------------------------------------------------------------------

SessionLease::~SessionLease() {
  if (owner_ != nullptr) owner_->release(handle_, broken_);
}

void SessionLease::note(CK_RV rv) {
  if (isSessionFatal(rv)) broken_ = true;
}

Result<std::unique_ptr<KeyStore>> KeyStore::open(const KeyStoreConfig& config) {
  if (config.maxSessions == 0) return makeError(hsm_errc::kBadInput, "maxSessions must be at least 1");
  std::unique_ptr<KeyStore> ks(new KeyStore());
  ks->config_ = config;
  auto pin = readPin(config.pin);
  if (!pin) return std::move(pin).takeError();
  ks->pin_ = std::move(*pin);
  auto mod = loadModule(config.modulePath);
  if (!mod) return std::move(mod).takeError();
  ks->module_ = *mod;
  ks->fns_ = (*mod)->fns;
  auto slot = findSlotByTokenLabel(ks->fns_, config.tokenLabel, false);
  if (!slot) return std::move(slot).takeError();
  ks->slot_ = *slot;

  CK_ULONG count = 0;
  if (ks->fns_->C_GetMechanismList(ks->slot_, nullptr, &count) == CKR_OK) {
    ks->mechanisms_.resize(count);
    if (ks->fns_->C_GetMechanismList(ks->slot_, ks->mechanisms_.data(), &count) != CKR_OK) count = 0;
    ks->mechanisms_.resize(count);
  }
  // Log in now so a wrong PIN fails at start-up, not at the first request.
  auto first = ks->openLoggedInSession();
  if (!first) return std::move(first).takeError();
  {
    std::lock_guard lock(ks->poolMu_);
    ks->idle_.push_back(*first);
    ks->open_ = 1;
  }
  return ks;
}

KeyStore::~KeyStore() {
  std::lock_guard lock(poolMu_);
  for (CK_SESSION_HANDLE h : idle_) fns_->C_CloseSession(h);
  idle_.clear();
}

Result<CK_SESSION_HANDLE> KeyStore::openLoggedInSession() {
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  CK_RV rv = fns_->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h);
  if (rv != CKR_OK) return pkcs11Error("C_OpenSession", rv);
  // Login state is per application; a second login reports CKR_USER_ALREADY_LOGGED_IN.
  auto pin = pin_.exposeSecretBytes();
  rv = fns_->C_Login(h, CKU_USER, const_cast<CK_UTF8CHAR*>(pin.data()), pin.size());
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    fns_->C_CloseSession(h);
    auto e = pkcs11Error("C_Login", rv);
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED) e.code = hsm_errc::kPin;
    return e;
  }
  return h;
}

Result<SessionLease> KeyStore::acquireSession() {
  std::unique_lock lock(poolMu_);
  const auto deadline = std::chrono::steady_clock::now() + config_.sessionWait;
  while (idle_.empty() && open_ >= config_.maxSessions) {
    if (poolCv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= config_.maxSessions) {
      return makeError(hsm_errc::kBusy, "no HSM session became free in time");
    }
  }
  if (!idle_.empty()) {
    CK_SESSION_HANDLE h = idle_.back();
    idle_.pop_back();
    return SessionLease(this, h);
  }
  ++open_;
  lock.unlock();
  auto h = openLoggedInSession();
  if (!h) {
    std::lock_guard relock(poolMu_);
    --open_;
    poolCv_.notify_one();
    return std::move(h).takeError();
  }
  return SessionLease(this, *h);
}

void KeyStore::release(CK_SESSION_HANDLE h, bool broken) {
  std::lock_guard lock(poolMu_);
  if (broken) {
    fns_->C_CloseSession(h);
    --open_;
  } else {
    idle_.push_back(h);
  }
  poolCv_.notify_one();
}

// ---- key lookup ----------------------------------------------------------------------

Result<CK_OBJECT_HANDLE> KeyStore::findKey(CK_SESSION_HANDLE session, const std::string& label,
                                           CK_OBJECT_CLASS cls, bool useCache) {
  if (useCache) {
    std::lock_guard lock(cacheMu_);
    if (auto it = handles_.find({label, cls}); it != handles_.end()) return it->second;
  }
  CK_ATTRIBUTE tmpl[] = {attr(CKA_LABEL, label.data(), label.size()), attr(CKA_CLASS, &cls, sizeof cls)};
  CK_RV rv = fns_->C_FindObjectsInit(session, tmpl, 2);
  if (rv != CKR_OK) return pkcs11Error("C_FindObjectsInit", rv);
  CK_OBJECT_HANDLE found[2];
  CK_ULONG n = 0;
  rv = fns_->C_FindObjects(session, found, 2, &n);
  fns_->C_FindObjectsFinal(session);
  if (rv != CKR_OK) return pkcs11Error("C_FindObjects", rv);
  if (n == 0) return makeError(hsm_errc::kKeyNotFound, "no key labelled '" + label + "'");
  if (n > 1) return makeError(hsm_errc::kKeyAmbiguous, "more than one object labelled '" + label + "'");
  if (useCache) {
    std::lock_guard lock(cacheMu_);
    handles_[{label, cls}] = found[0];
  }
  return found[0];
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
  auto lease = acquireSession();
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

// ---- key ceremonies ------------------------------------------------------------------

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
  auto lease = acquireSession();
  if (!lease) return std::move(lease).takeError();
  SEALGATE_TRY(requireAbsent(lease->handle(), label));
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  Bytes id = keyIdFor(label);
  const CK_BBOOL* mac = use == SecretKeyUse::Mac ? &kTrue : &kFalse;
  const CK_BBOOL* enc = use == SecretKeyUse::Encrypt ? &kTrue : &kFalse;
  CK_ATTRIBUTE tmpl[] = {
      attr(CKA_CLASS, &cls, sizeof cls),      attr(CKA_KEY_TYPE, &type, sizeof type),
      extra,                                  attr(CKA_LABEL, label.data(), label.size()),
      attr(CKA_ID, id.data(), id.size()),     attr(CKA_TOKEN, &kTrue, 1),
      attr(CKA_PRIVATE, &kTrue, 1),           attr(CKA_SENSITIVE, &kTrue, 1),
      attr(CKA_EXTRACTABLE, &kFalse, 1),      attr(CKA_SIGN, mac, 1),
      attr(CKA_VERIFY, mac, 1),               attr(CKA_ENCRYPT, enc, 1),
      attr(CKA_DECRYPT, enc, 1),              attr(CKA_WRAP, &kFalse, 1),
      attr(CKA_UNWRAP, &kFalse, 1),           attr(CKA_DERIVE, &kFalse, 1),
      attr(CKA_MODIFIABLE, &kFalse, 1),       attr(CKA_COPYABLE, &kFalse, 1),
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
  return makeSecretKey(label, type, use, &mech, attr(CKA_VALUE_LEN, &len, sizeof len));
}

Result<void> KeyStore::generateEcP256Key(const std::string& label) {
  SEALGATE_TRY(requireMechanism(CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"));
  SEALGATE_TRY(requireMechanism(CKM_ECDSA, "CKM_ECDSA"));
  auto lease = acquireSession();
  if (!lease) return std::move(lease).takeError();
  SEALGATE_TRY(requireAbsent(lease->handle(), label));
  CK_OBJECT_CLASS pubCls = CKO_PUBLIC_KEY, privCls = CKO_PRIVATE_KEY;
  CK_KEY_TYPE type = CKK_EC;
  Bytes id = keyIdFor(label);
  CK_ATTRIBUTE pub[] = {
      attr(CKA_CLASS, &pubCls, sizeof pubCls), attr(CKA_KEY_TYPE, &type, sizeof type),
      attr(CKA_EC_PARAMS, kP256CurveOid.data(), kP256CurveOid.size()),
      attr(CKA_LABEL, label.data(), label.size()), attr(CKA_ID, id.data(), id.size()),
      attr(CKA_TOKEN, &kTrue, 1),              attr(CKA_PRIVATE, &kFalse, 1),
      attr(CKA_VERIFY, &kTrue, 1),             attr(CKA_ENCRYPT, &kFalse, 1),
      attr(CKA_WRAP, &kFalse, 1),              attr(CKA_DERIVE, &kFalse, 1),
      attr(CKA_MODIFIABLE, &kFalse, 1),        attr(CKA_COPYABLE, &kFalse, 1),
  };
  CK_ATTRIBUTE priv[] = {
      attr(CKA_CLASS, &privCls, sizeof privCls), attr(CKA_KEY_TYPE, &type, sizeof type),
      attr(CKA_LABEL, label.data(), label.size()), attr(CKA_ID, id.data(), id.size()),
      attr(CKA_TOKEN, &kTrue, 1),                attr(CKA_PRIVATE, &kTrue, 1),
      attr(CKA_SENSITIVE, &kTrue, 1),            attr(CKA_EXTRACTABLE, &kFalse, 1),
      attr(CKA_SIGN, &kTrue, 1),                 attr(CKA_SIGN_RECOVER, &kFalse, 1),
      attr(CKA_DECRYPT, &kFalse, 1),             attr(CKA_UNWRAP, &kFalse, 1),
      attr(CKA_DERIVE, &kFalse, 1),              attr(CKA_MODIFIABLE, &kFalse, 1),
      attr(CKA_COPYABLE, &kFalse, 1),
  };
  CK_MECHANISM mech{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  CK_OBJECT_HANDLE hPub = CK_INVALID_HANDLE, hPriv = CK_INVALID_HANDLE;
  CK_RV rv = fns_->C_GenerateKeyPair(lease->handle(), &mech, pub, std::size(pub), priv, std::size(priv),
                                     &hPub, &hPriv);
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
  return makeSecretKey(label, CKK_GENERIC_SECRET, SecretKeyUse::Mac, nullptr, attr(CKA_VALUE, v.data(), v.size()));
}

Result<void> KeyStore::importAesKey(const std::string& label, const Secret& value) {
  if (value.size() != 16 && value.size() != 24 && value.size() != 32) {
    return makeError(hsm_errc::kBadInput, "AES keys are 16, 24 or 32 bytes");
  }
  auto v = value.exposeSecretBytes();
  return makeSecretKey(label, CKK_AES, SecretKeyUse::Encrypt, nullptr, attr(CKA_VALUE, v.data(), v.size()));
}

Result<void> KeyStore::destroyKey(const std::string& label) {
  auto lease = acquireSession();
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

// ---- operations ----------------------------------------------------------------------

Result<Mac256> KeyStore::hmacSha256(const std::string& label, std::span<const std::uint8_t> data) {
  return withKey(label, CKO_SECRET_KEY, [&](SessionLease& s, CK_OBJECT_HANDLE key) -> Result<Mac256> {
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
  });
}

Result<Bytes> KeyStore::signEcdsaP256(const std::string& label, std::span<const std::uint8_t> data,
                                      SignatureFormat format) {
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(data.data(), data.size(), digest);
  auto raw = withKey(label, CKO_PRIVATE_KEY, [&](SessionLease& s, CK_OBJECT_HANDLE key) -> Result<Bytes> {
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
  });
  if (!raw || format == SignatureFormat::RawRS) return raw;
  // X.509 and TLS want DER: SEQUENCE { r INTEGER, s INTEGER }.
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BignumPtr r(BN_bin2bn(raw->data(), 32, nullptr));
  BignumPtr s(BN_bin2bn(raw->data() + 32, 32, nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return makeError(hsm_errc::kOperation, "cannot encode the ECDSA signature");
  }
  r.release();  // owned by sig now
  s.release();
  int derLen = i2d_ECDSA_SIG(sig.get(), nullptr);
  Bytes der(derLen > 0 ? static_cast<std::size_t>(derLen) : 0);
  unsigned char* p = der.data();
  if (derLen <= 0 || i2d_ECDSA_SIG(sig.get(), &p) != derLen) {
    return makeError(hsm_errc::kOperation, "cannot encode the ECDSA signature");
  }
  return der;
}

Result<Bytes> KeyStore::publicKeyDer(const std::string& label) {
  return withKey(label, CKO_PUBLIC_KEY, [&](SessionLease& s, CK_OBJECT_HANDLE key) -> Result<Bytes> {
    std::uint8_t point[80] = {};
    CK_ATTRIBUTE a = attr(CKA_EC_POINT, point, sizeof point);
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
  return withKey(label, CKO_SECRET_KEY, [&](SessionLease& s, CK_OBJECT_HANDLE key) -> Result<Bytes> {
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
  });
}

Result<Secret> KeyStore::aesGcmDecrypt(const std::string& label, std::span<const std::uint8_t> iv,
                                       std::span<const std::uint8_t> aad,
                                       std::span<const std::uint8_t> ciphertextAndTag) {
  SEALGATE_TRY(requireMechanism(CKM_AES_GCM, "CKM_AES_GCM"));
  if (iv.size() != 12) return makeError(hsm_errc::kBadInput, "AES-GCM IVs are 12 bytes");
  if (ciphertextAndTag.size() < 16) return makeError(hsm_errc::kDecrypt, "AES-GCM decryption failed");
  return withKey(label, CKO_SECRET_KEY, [&](SessionLease& s, CK_OBJECT_HANDLE key) -> Result<Secret> {
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
  });
}

// ---- inspection ----------------------------------------------------------------------

Result<KeyInfo> KeyStore::describe(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE h) {
  KeyInfo info;
  char label[256] = {};
  CK_OBJECT_CLASS cls = 0;
  CK_KEY_TYPE type = 0;
  CK_ATTRIBUTE base[] = {attr(CKA_LABEL, label, sizeof label), attr(CKA_CLASS, &cls, sizeof cls),
                         attr(CKA_KEY_TYPE, &type, sizeof type)};
  CK_RV rv = fns_->C_GetAttributeValue(session, h, base, std::size(base));
  if (rv != CKR_OK) return pkcs11Error("C_GetAttributeValue", rv);
  info.label.assign(label, base[0].ulValueLen);

  static constexpr std::pair<CK_ATTRIBUTE_TYPE, const char*> kFlags[] = {
      {CKA_TOKEN, "TOKEN"},         {CKA_PRIVATE, "PRIVATE"},         {CKA_SENSITIVE, "SENSITIVE"},
      {CKA_EXTRACTABLE, "EXTRACTABLE"}, {CKA_ALWAYS_SENSITIVE, "ALWAYS_SENSITIVE"},
      {CKA_NEVER_EXTRACTABLE, "NEVER_EXTRACTABLE"}, {CKA_SIGN, "SIGN"}, {CKA_VERIFY, "VERIFY"},
      {CKA_ENCRYPT, "ENCRYPT"},     {CKA_DECRYPT, "DECRYPT"},         {CKA_WRAP, "WRAP"},
      {CKA_UNWRAP, "UNWRAP"},       {CKA_DERIVE, "DERIVE"},           {CKA_MODIFIABLE, "MODIFIABLE"},
      {CKA_COPYABLE, "COPYABLE"},
  };
  for (auto [type, name] : kFlags) {
    CK_BBOOL v = CK_FALSE;
    CK_ATTRIBUTE a = attr(type, &v, sizeof v);
    if (fns_->C_GetAttributeValue(session, h, &a, 1) == CKR_OK) info.attributes[name] = v == CK_TRUE;
  }

  CK_ULONG valueLen = 0;
  CK_ATTRIBUTE lenAttr = attr(CKA_VALUE_LEN, &valueLen, sizeof valueLen);
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
    auto lease = acquireSession();
    if (!lease) return std::move(lease).takeError();
    for (CK_OBJECT_CLASS cls : {CKO_SECRET_KEY, CKO_PRIVATE_KEY}) {
      CK_ATTRIBUTE tmpl[] = {attr(CKA_CLASS, &cls, sizeof cls)};
      CK_RV rv = fns_->C_FindObjectsInit(lease->handle(), tmpl, 1);
      lease->note(rv);
      if (rv != CKR_OK) return pkcs11Error("C_FindObjectsInit", rv);
      std::vector<CK_OBJECT_HANDLE> found;
      CK_OBJECT_HANDLE batch[64];
      CK_ULONG n = 0;
      while ((rv = fns_->C_FindObjects(lease->handle(), batch, 64, &n)) == CKR_OK && n > 0) {
        found.insert(found.end(), batch, batch + n);
      }
      fns_->C_FindObjectsFinal(lease->handle());
      if (rv != CKR_OK) return pkcs11Error("C_FindObjects", rv);
      for (CK_OBJECT_HANDLE h : found) {
        auto info = describe(lease->handle(), h);
        if (info) out.push_back(std::move(*info));
      }
    }
  }
  for (auto& info : out) addFingerprint(info);
  std::sort(out.begin(), out.end(), [](const KeyInfo& a, const KeyInfo& b) { return a.label < b.label; });
  return out;
}

Result<KeyInfo> KeyStore::keyInfo(const std::string& label) {
  std::optional<Result<KeyInfo>> info;
  {
    auto lease = acquireSession();
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

Result<unsigned> KeyStore::activeVersion(const std::string& prefix) {
  auto lease = acquireSession();
  if (!lease) return std::move(lease).takeError();
  unsigned best = 0;
  for (CK_OBJECT_CLASS cls : {CKO_SECRET_KEY, CKO_PRIVATE_KEY}) {
    CK_ATTRIBUTE tmpl[] = {attr(CKA_CLASS, &cls, sizeof cls)};
    CK_RV rv = fns_->C_FindObjectsInit(lease->handle(), tmpl, 1);
    lease->note(rv);
    if (rv != CKR_OK) return pkcs11Error("C_FindObjectsInit", rv);
    CK_OBJECT_HANDLE hs[64];
    CK_ULONG n = 0;
    std::vector<CK_OBJECT_HANDLE> all;
    while ((rv = fns_->C_FindObjects(lease->handle(), hs, 64, &n)) == CKR_OK && n > 0) all.insert(all.end(), hs, hs + n);
    fns_->C_FindObjectsFinal(lease->handle());
    if (rv != CKR_OK) return pkcs11Error("C_FindObjects", rv);
    for (CK_OBJECT_HANDLE h : all) {
      char label[256] = {};
      CK_ATTRIBUTE a = attr(CKA_LABEL, label, sizeof label);
      if (fns_->C_GetAttributeValue(lease->handle(), h, &a, 1) != CKR_OK) continue;
      if (auto v = parseVersionedLabel(std::string_view(label, a.ulValueLen), prefix)) best = std::max(best, *v);
    }
  }
  if (best == 0) return makeError(hsm_errc::kKeyNotFound, "no key labelled " + prefix + "-vN");
  return best;
}

Result<TokenStatus> KeyStore::status() {
  TokenStatus st;
  st.modulePath = config_.modulePath;
  CK_TOKEN_INFO info{};
  CK_RV rv = fns_->C_GetTokenInfo(slot_, &info);
  if (rv != CKR_OK) return pkcs11Error("C_GetTokenInfo", rv);
  st.tokenLabel = trimPadded(info.label, sizeof info.label);
  st.manufacturer = trimPadded(info.manufacturerID, sizeof info.manufacturerID);
  st.model = trimPadded(info.model, sizeof info.model);
  st.serial = trimPadded(info.serialNumber, sizeof info.serialNumber);
  auto lease = acquireSession();
  if (!lease) return std::move(lease).takeError();
  CK_SESSION_INFO si{};
  rv = fns_->C_GetSessionInfo(lease->handle(), &si);
  lease->note(rv);
  if (rv != CKR_OK) return pkcs11Error("C_GetSessionInfo", rv);
  st.loggedIn = si.state == CKS_RW_USER_FUNCTIONS || si.state == CKS_RO_USER_FUNCTIONS;
  {
    std::lock_guard lock(poolMu_);
    st.openSessions = open_;
  }
  return st;
}

// ---- token initialisation ------------------------------------------------------------

Result<void> initializeToken(const std::string& modulePath, const std::string& label, const Secret& soPin,
                             const Secret& userPin) {
  if (label.empty() || label.size() > 32) return makeError(hsm_errc::kBadInput, "token labels are 1-32 characters");
  auto mod = loadModule(modulePath);
  if (!mod) return std::move(mod).takeError();
  CK_FUNCTION_LIST* fns = (*mod)->fns;
  if (findSlotByTokenLabel(fns, label, false).ok()) {
    return makeError(hsm_errc::kKeyExists, "a token labelled '" + label + "' already exists");
  }
  auto slot = findSlotByTokenLabel(fns, label, true);
  if (!slot) return std::move(slot).takeError();
  unsigned char padded[32];
  std::memset(padded, ' ', sizeof padded);
  std::memcpy(padded, label.data(), label.size());
  auto so = soPin.exposeSecretBytes();
  CK_RV rv = fns->C_InitToken(*slot, const_cast<CK_UTF8CHAR*>(so.data()), so.size(), padded);
  if (rv != CKR_OK) return pkcs11Error("C_InitToken", rv);
  // SoftHSM moves the new token to a new slot id: find it again by label.
  auto newSlot = findSlotByTokenLabel(fns, label, false);
  if (!newSlot) return std::move(newSlot).takeError();
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  rv = fns->C_OpenSession(*newSlot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h);
  if (rv != CKR_OK) return pkcs11Error("C_OpenSession", rv);
  rv = fns->C_Login(h, CKU_SO, const_cast<CK_UTF8CHAR*>(so.data()), so.size());
  if (rv == CKR_OK) {
    auto user = userPin.exposeSecretBytes();
    rv = fns->C_InitPIN(h, const_cast<CK_UTF8CHAR*>(user.data()), user.size());
    fns->C_Logout(h);
    if (rv != CKR_OK) {
      fns->C_CloseSession(h);
      return pkcs11Error("C_InitPIN", rv);
    }
  } else {
    fns->C_CloseSession(h);
    return pkcs11Error("C_Login", rv);
  }
  fns->C_CloseSession(h);
  return Ok{};
}

// ---- resource_ref MAC ------------------------------------------------------------------

HsmRefMac::HsmRefMac(KeyStore& store, unsigned version)
    : store_(store), version_(version), label_(versionedLabel(key_labels::kRefHmac, version)) {}

Result<Mac256> HsmRefMac::mac(std::string_view data) {
  return store_.hmacSha256(label_, asBytes(data));
}

}  // namespace sealgate::hsm
