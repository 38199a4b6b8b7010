// The lowest layer of the hsm folder: a PKCS#11 module loaded once per process,
// its tokens found by label, raw sessions and object lookup by label.
//
// KeyStore is built on this; tests and benchmarks use it directly when they
// compare against, or reach past, the key store (e.g. to prove what the token
// itself refuses). It knows nothing of sealgate's keys.
#pragma once

#include <p11-kit/pkcs11.h>

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "hsm/pkcs11_error.h"

namespace sealgate::hsm {

// A dlopen'ed, C_Initialize'd PKCS#11 module. C_Initialize/C_Finalize are per
// process and per library, so every user of the same path shares one instance;
// the last owner to let go finalises and unloads it.
class Pkcs11Module {
 public:
  static Result<std::shared_ptr<Pkcs11Module>> load(const std::string& path);
  ~Pkcs11Module();
  Pkcs11Module(const Pkcs11Module&) = delete;
  Pkcs11Module& operator=(const Pkcs11Module&) = delete;

  CK_FUNCTION_LIST* functions() const { return fns_; }
  // The slot of the initialised token labelled `label` (slot ids are not stable).
  Result<CK_SLOT_ID> findToken(const std::string& label) const;
  // The first slot whose token is not initialised yet.
  Result<CK_SLOT_ID> findFreeSlot() const;

 private:
  Pkcs11Module() = default;
  void* dl_ = nullptr;
  CK_FUNCTION_LIST* fns_ = nullptr;  // null unless C_Initialize succeeded
};

// A read-write session, closed when the owner goes away. Not logged in by
// itself: PKCS#11 login state is per application and slot, so a session opened
// while another is logged in is logged in too.
class Pkcs11Session {
 public:
  static Result<Pkcs11Session> open(CK_FUNCTION_LIST* fns, CK_SLOT_ID slot);
  Pkcs11Session(Pkcs11Session&& other) noexcept;
  Pkcs11Session(const Pkcs11Session&) = delete;
  Pkcs11Session& operator=(const Pkcs11Session&) = delete;
  Pkcs11Session& operator=(Pkcs11Session&&) = delete;
  ~Pkcs11Session();

  CK_SESSION_HANDLE handle() const { return handle_; }
  // Gives up ownership: the caller closes the handle it gets.
  CK_SESSION_HANDLE release();

 private:
  Pkcs11Session(CK_FUNCTION_LIST* fns, CK_SESSION_HANDLE h) : fns_(fns), handle_(h) {}
  CK_FUNCTION_LIST* fns_;
  CK_SESSION_HANDLE handle_;
};

// The one object of class `cls` labelled `label`: HSM_KEY_NOT_FOUND if none,
// HSM_KEY_AMBIGUOUS if several.
Result<CK_OBJECT_HANDLE> findObjectByLabel(CK_FUNCTION_LIST* fns, CK_SESSION_HANDLE session, const std::string& label,
                                           CK_OBJECT_CLASS cls);
// Every object of class `cls` the session can see.
Result<std::vector<CK_OBJECT_HANDLE>> findObjectsOfClass(CK_FUNCTION_LIST* fns, CK_SESSION_HANDLE session,
                                                         CK_OBJECT_CLASS cls);

// A CK_ATTRIBUTE over `len` bytes at `value` (PKCS#11 templates are not const-correct).
inline CK_ATTRIBUTE ckAttribute(CK_ATTRIBUTE_TYPE type, const void* value, std::size_t len) {
  return CK_ATTRIBUTE{type, const_cast<void*>(value), static_cast<CK_ULONG>(len)};
}

// A blank-padded fixed-size PKCS#11 text field (labels, serials) as a string.
std::string fromPaddedField(const unsigned char* field, std::size_t size);

}  // namespace sealgate::hsm
