// The hsm folder's error codes, and how a PKCS#11 CK_RV becomes an Error.
#pragma once

#include <p11-kit/pkcs11.h>

#include "core/result.h"

namespace sealgate::hsm {

// Error codes of this folder.
namespace hsm_errc {
inline constexpr const char* kModule = "HSM_MODULE";            // cannot load/initialise the module
inline constexpr const char* kTokenNotFound = "HSM_TOKEN_NOT_FOUND";
inline constexpr const char* kPin = "HSM_PIN";                  // PIN source unreadable/unsafe, or login refused
inline constexpr const char* kNotLoggedIn = "HSM_NOT_LOGGED_IN";  // the token's sessions are not logged in
inline constexpr const char* kKeyNotFound = "HSM_KEY_NOT_FOUND";
inline constexpr const char* kKeyMissing = "HSM_KEY_MISSING";   // health(): an expected key is absent
inline constexpr const char* kKeyAmbiguous = "HSM_KEY_AMBIGUOUS";
inline constexpr const char* kKeyExists = "HSM_KEY_EXISTS";
inline constexpr const char* kUnsupported = "HSM_UNSUPPORTED";  // mechanism or key size the token lacks
inline constexpr const char* kBusy = "HSM_BUSY";                // no session free within the wait
inline constexpr const char* kDecrypt = "HSM_DECRYPT_FAILED";   // any AEAD failure: tag, AAD, IV
inline constexpr const char* kBadInput = "HSM_BAD_INPUT";
inline constexpr const char* kOperation = "HSM_ERROR";          // any other CK_RV
}  // namespace hsm_errc

// An Error carrying the CK_RV and the PKCS#11 function that returned it.
Error pkcs11Error(const char* operation, CK_RV rv);

// The CKR_* name of the return values sealgate meets ("CKR_?" for others).
const char* ckrName(CK_RV rv);

// A session that returned this can no longer be used: close it, open another.
bool isSessionFatal(CK_RV rv);
// A cached object handle that returned this names a key that was deleted or recreated.
bool isStaleHandle(CK_RV rv);

}  // namespace sealgate::hsm
