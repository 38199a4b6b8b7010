// The hsm folder's error codes, and how a PKCS#11 CK_RV becomes an Error.
#pragma once

#include <p11-kit/pkcs11.h>

#include "core/result.h"

namespace sealgate::hsm {

// Error codes of this folder.
namespace hsm_errc {
inline constexpr ErrorCode kModule = ErrorCode::HsmModule;  // cannot load/initialise the module
inline constexpr ErrorCode kTokenNotFound = ErrorCode::HsmTokenNotFound;
inline constexpr ErrorCode kPin = ErrorCode::HsmPin;                  // PIN source unreadable/unsafe, or login refused
inline constexpr ErrorCode kNotLoggedIn = ErrorCode::HsmNotLoggedIn;  // the token's sessions are not logged in
inline constexpr ErrorCode kKeyNotFound = ErrorCode::HsmKeyNotFound;
inline constexpr ErrorCode kKeyMissing = ErrorCode::HsmKeyMissing;  // health(): an expected key is absent
inline constexpr ErrorCode kKeyAmbiguous = ErrorCode::HsmKeyAmbiguous;
inline constexpr ErrorCode kKeyExists = ErrorCode::HsmKeyExists;
inline constexpr ErrorCode kUnsupported = ErrorCode::HsmUnsupported;  // mechanism or key size the token lacks
inline constexpr ErrorCode kBusy = ErrorCode::HsmBusy;                // no session free within the wait
inline constexpr ErrorCode kDecrypt = ErrorCode::HsmDecryptFailed;    // any AEAD failure: tag, AAD, IV
inline constexpr ErrorCode kBadInput = ErrorCode::HsmBadInput;
inline constexpr ErrorCode kOperation = ErrorCode::HsmError;  // any other CK_RV
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
