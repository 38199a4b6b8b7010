#include "hsm/pkcs11_module.h"

#include <dlfcn.h>

#include <map>
#include <mutex>
#include <utility>

namespace sealgate::hsm {
namespace {

// Process-wide registry: one initialised module per path, kept while anyone holds it.
std::mutex gModulesMu;
std::map<std::string, std::weak_ptr<Pkcs11Module>>& modules() {
  static auto* m = new std::map<std::string, std::weak_ptr<Pkcs11Module>>();
  return *m;
}

Result<CK_SLOT_ID> findSlot(CK_FUNCTION_LIST* fns, const std::string& label, bool wantFree) {
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
    if (wantFree ? !initialized : (initialized && fromPaddedField(info.label, sizeof info.label) == label)) {
      return slot;
    }
  }
  return makeError(hsm_errc::kTokenNotFound,
                   wantFree ? "no uninitialised token slot" : "no token labelled '" + label + "'");
}

}  // namespace

// ---- module --------------------------------------------------------------------------

Result<std::shared_ptr<Pkcs11Module>> Pkcs11Module::load(const std::string& path) {
  std::lock_guard lock(gModulesMu);
  if (auto existing = modules()[path].lock()) return existing;
  std::shared_ptr<Pkcs11Module> mod(new Pkcs11Module());
  mod->dl_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (mod->dl_ == nullptr) {
    return makeError(hsm_errc::kModule, "cannot load PKCS#11 module " + path + ": " + dlerror());
  }
  auto getList = reinterpret_cast<CK_C_GetFunctionList>(dlsym(mod->dl_, "C_GetFunctionList"));
  if (getList == nullptr) return makeError(hsm_errc::kModule, "module has no C_GetFunctionList: " + path);
  CK_FUNCTION_LIST* fns = nullptr;
  CK_RV rv = getList(&fns);
  if (rv != CKR_OK || fns == nullptr) return pkcs11Error("C_GetFunctionList", rv);
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  rv = fns->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    auto e = pkcs11Error("C_Initialize", rv);
    e.code = hsm_errc::kModule;
    return e;
  }
  mod->fns_ = fns;  // from here on the destructor finalises
  modules()[path] = mod;
  return mod;
}

Pkcs11Module::~Pkcs11Module() {
  if (fns_ != nullptr) fns_->C_Finalize(nullptr);
  if (dl_ != nullptr) dlclose(dl_);
}

Result<CK_SLOT_ID> Pkcs11Module::findToken(const std::string& label) const { return findSlot(fns_, label, false); }

Result<CK_SLOT_ID> Pkcs11Module::findFreeSlot() const { return findSlot(fns_, {}, true); }

// ---- sessions ------------------------------------------------------------------------

Result<Pkcs11Session> Pkcs11Session::open(CK_FUNCTION_LIST* fns, CK_SLOT_ID slot) {
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  CK_RV rv = fns->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h);
  if (rv != CKR_OK) return pkcs11Error("C_OpenSession", rv);
  return Pkcs11Session(fns, h);
}

Pkcs11Session::Pkcs11Session(Pkcs11Session&& other) noexcept
    : fns_(other.fns_), handle_(std::exchange(other.handle_, CK_INVALID_HANDLE)) {}

Pkcs11Session::~Pkcs11Session() {
  if (handle_ != CK_INVALID_HANDLE) fns_->C_CloseSession(handle_);
}

CK_SESSION_HANDLE Pkcs11Session::release() { return std::exchange(handle_, CK_INVALID_HANDLE); }

// ---- objects -------------------------------------------------------------------------

Result<CK_OBJECT_HANDLE> findObjectByLabel(CK_FUNCTION_LIST* fns, CK_SESSION_HANDLE session, const std::string& label,
                                           CK_OBJECT_CLASS cls) {
  CK_ATTRIBUTE tmpl[] = {ckAttribute(CKA_LABEL, label.data(), label.size()), ckAttribute(CKA_CLASS, &cls, sizeof cls)};
  CK_RV rv = fns->C_FindObjectsInit(session, tmpl, 2);
  if (rv != CKR_OK) return pkcs11Error("C_FindObjectsInit", rv);
  CK_OBJECT_HANDLE found[2];
  CK_ULONG n = 0;
  rv = fns->C_FindObjects(session, found, 2, &n);
  fns->C_FindObjectsFinal(session);
  if (rv != CKR_OK) return pkcs11Error("C_FindObjects", rv);
  if (n == 0) return makeError(hsm_errc::kKeyNotFound, "no key labelled '" + label + "'");
  if (n > 1) return makeError(hsm_errc::kKeyAmbiguous, "more than one object labelled '" + label + "'");
  return found[0];
}

Result<std::vector<CK_OBJECT_HANDLE>> findObjectsOfClass(CK_FUNCTION_LIST* fns, CK_SESSION_HANDLE session,
                                                         CK_OBJECT_CLASS cls) {
  CK_ATTRIBUTE tmpl[] = {ckAttribute(CKA_CLASS, &cls, sizeof cls)};
  CK_RV rv = fns->C_FindObjectsInit(session, tmpl, 1);
  if (rv != CKR_OK) return pkcs11Error("C_FindObjectsInit", rv);
  std::vector<CK_OBJECT_HANDLE> all;
  CK_OBJECT_HANDLE batch[64];
  CK_ULONG n = 0;
  while ((rv = fns->C_FindObjects(session, batch, 64, &n)) == CKR_OK && n > 0) all.insert(all.end(), batch, batch + n);
  fns->C_FindObjectsFinal(session);
  if (rv != CKR_OK) return pkcs11Error("C_FindObjects", rv);
  return all;
}

std::string fromPaddedField(const unsigned char* field, std::size_t size) {
  std::string s(reinterpret_cast<const char*>(field), size);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace sealgate::hsm
