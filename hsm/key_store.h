// KeyStore: every key sealgate trusts, held in a PKCS#11 token and used in place.
//
// Loads any PKCS#11 module by path (SoftHSM2 in tests, a vendor HSM or
// libtpm2-pkcs11 in production) with the same code. Keys are found by label and
// their handles cached; sessions come from a bounded pool that is safe to use from
// many threads and never leaves the key store. Key material never leaves the
// token: there is no API that returns a private or secret key's value.
//
// The folder follows SoftHSMv2's layering, one file per layer:
//   pkcs11_error.{h,cc}    error codes, CK_RV -> Error
//   pkcs11_module.{h,cc}   module registry, token slots, raw sessions, lookup by label
//   session_pool.{h,cc}    the bounded pool of logged-in sessions (internal)
//   key_store.cc           open, handle cache, operations (HMAC, ECDSA, AES-GCM)
//   key_ceremony.cc        generate, import, destroy keys; initialise a token
//   key_inspection.cc      list/describe keys, versions, token status, health()
//   pin_source.cc          reading the user PIN
#pragma once

#include <p11-kit/pkcs11.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/encoding.h"
#include "core/resource_ref.h"
#include "core/result.h"
#include "core/secret.h"
#include "hsm/pkcs11_error.h"

namespace sealgate::hsm {

// Where the user PIN comes from: a file (0600 or stricter) or an environment
// variable — never argv.
struct PinSource {
  std::string file;
  std::string envVar;
};
Result<Secret> readPin(const PinSource& source);

struct KeyStoreConfig {
  std::string modulePath;  // e.g. /usr/lib/softhsm/libsofthsm2.so
  std::string tokenLabel;  // tokens are found by label: slot ids are not stable
  PinSource pin;
  std::size_t maxSessions = 8;
  std::chrono::milliseconds sessionWait{2000};
};

enum class KeyKind { HmacSha256, EcP256, Aes256 };
std::string_view keyKindName(KeyKind kind);

// What `keys list` and the admin status show: labels, types, fingerprints and
// attributes, never values.
struct KeyInfo {
  std::string label;
  KeyKind kind{};
  std::size_t bits = 0;
  // EC: SHA-256 of the SubjectPublicKeyInfo (hex). Secret keys: key check value,
  // the first 8 bytes (hex) of HMAC / AES-GCM(fixed IV) of "sealgate-key-check".
  std::string fingerprint;
  std::map<std::string, bool> attributes;  // CKA_* name without prefix -> value
};

struct TokenStatus {
  std::string modulePath;
  std::string tokenLabel;
  std::string manufacturer;
  std::string model;
  std::string serial;
  bool loggedIn = false;
  std::size_t openSessions = 0;
};

enum class SignatureFormat { RawRS, Der };

// A key health() expects to find.
struct ExpectedKey {
  enum class Match {
    Label,       // exactly `label`
    AnyVersion,  // some `<label>-vN` (label is the prefix, as for activeVersion)
  };
  std::string label;
  KeyKind kind{};  // the object looked for: the private key for EC, the secret key otherwise
  Match match = Match::Label;
};

struct KeyStoreHealth {
  // In the order asked: the label, or "<prefix>-vN" for an AnyVersion key.
  std::vector<std::string> missing;
  bool healthy() const { return missing.empty(); }
};

class Pkcs11Module;
class SessionPool;
class SessionLease;

class KeyStore {
 public:
  static Result<std::unique_ptr<KeyStore>> open(const KeyStoreConfig& config);
  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // --- key ceremonies ---------------------------------------------------------
  // Every attribute is set explicitly (SoftHSM turns unset usage flags on):
  // token, private, sensitive, non-extractable, only the usage flags needed,
  // not modifiable, not copyable.
  Result<void> generateHmacKey(const std::string& label, std::size_t bytes = 32);
  Result<void> generateEcP256Key(const std::string& label);
  Result<void> generateAes256Key(const std::string& label);
  // Imports existing key material (migration, known-answer tests) with the same
  // attributes as generated keys: afterwards it is as unextractable as they are.
  Result<void> importHmacKey(const std::string& label, const Secret& value);
  Result<void> importAesKey(const std::string& label, const Secret& value);
  Result<void> destroyKey(const std::string& label);

  // --- operations -------------------------------------------------------------
  // Told when each operation ("hmac", "sign", "encrypt", "decrypt") ends: how
  // long it took, sessions and key lookup included, and whether it succeeded (the
  // daemon's metrics). Set once, before the store is shared between threads.
  using OperationObserver = std::function<void(const char* operation, double seconds, bool ok)>;
  void setObserver(OperationObserver observer);
  Result<Mac256> hmacSha256(const std::string& label, std::span<const std::uint8_t> data);
  // ECDSA P-256 over SHA-256(data); the hash is computed here (no CKM_ECDSA_SHA256 in SoftHSM).
  Result<Bytes> signEcdsaP256(const std::string& label, std::span<const std::uint8_t> data, SignatureFormat format);
  // DER SubjectPublicKeyInfo of an EC key's public half.
  Result<Bytes> publicKeyDer(const std::string& label);
  // AES-256-GCM with a 12-byte IV and 128-bit tag; returns ciphertext || tag.
  Result<Bytes> aesGcmEncrypt(const std::string& label, std::span<const std::uint8_t> iv,
                              std::span<const std::uint8_t> aad, std::span<const std::uint8_t> plaintext);
  // Any failure (bad tag, AAD, IV) is HSM_DECRYPT_FAILED; plaintext only in a Secret.
  Result<Secret> aesGcmDecrypt(const std::string& label, std::span<const std::uint8_t> iv,
                               std::span<const std::uint8_t> aad, std::span<const std::uint8_t> ciphertextAndTag);

  // --- inspection -------------------------------------------------------------
  Result<std::vector<KeyInfo>> listKeys();
  Result<KeyInfo> keyInfo(const std::string& label);
  // The highest N among labels `<prefix>-vN` (e.g. "sealgate-ref-hmac").
  Result<unsigned> activeVersion(const std::string& prefix);
  // Token reachable, bypassing caches.
  Result<TokenStatus> status();
  // For /readyz: the token is reachable and logged in, and every expected key is
  // there, each looked up afresh (a deleted key shows even while its handle is
  // cached). Missing keys are the answer, not an error (hsm_errc::kKeyMissing is
  // the code for callers to report them under). Errors: HSM_NOT_LOGGED_IN, no
  // session within the wait (HSM_BUSY), or another PKCS#11 failure (HSM_ERROR
  // with the CK_RV).
  Result<KeyStoreHealth> health(std::span<const ExpectedKey> expected);
  bool supportsMechanism(CK_MECHANISM_TYPE mechanism) const;

  // The module's function list, for tests and benchmarks that compare against
  // raw PKCS#11 (with their own Pkcs11Session, see pkcs11_module.h).
  CK_FUNCTION_LIST* functions() const { return fns_; }
  const KeyStoreConfig& config() const { return config_; }

 private:
  KeyStore();
  template <typename R>
  R observed(const char* operation, std::chrono::steady_clock::time_point started, R result) const;
  Result<CK_OBJECT_HANDLE> findKey(CK_SESSION_HANDLE session, const std::string& label, CK_OBJECT_CLASS cls,
                                   bool useCache = true);
  void forgetHandle(const std::string& label, CK_OBJECT_CLASS cls);
  Result<void> requireMechanism(CK_MECHANISM_TYPE mechanism, const char* name) const;
  Result<void> requireAbsent(CK_SESSION_HANDLE session, const std::string& label);
  enum class SecretKeyUse { Mac, Encrypt };
  Result<void> makeSecretKey(const std::string& label, CK_KEY_TYPE type, SecretKeyUse use, const CK_MECHANISM* generate,
                             CK_ATTRIBUTE extra);
  Result<void> generateSecretKey(const std::string& label, CK_KEY_TYPE type, CK_MECHANISM_TYPE mechanism,
                                 std::size_t bytes, SecretKeyUse use);
  Result<KeyInfo> describe(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE h);
  void addFingerprint(KeyInfo& info);
  Result<unsigned> highestVersion(SessionLease& lease, const std::string& prefix,
                                  std::initializer_list<CK_OBJECT_CLASS> classes);
  template <typename Fn>
  auto withKey(const std::string& label, CK_OBJECT_CLASS cls, Fn&& fn)
      -> decltype(fn(std::declval<SessionLease&>(), CK_OBJECT_HANDLE{}));

  KeyStoreConfig config_;
  std::shared_ptr<Pkcs11Module> module_;  // declared before pool_, so it outlives the pool's sessions
  CK_FUNCTION_LIST* fns_ = nullptr;
  CK_SLOT_ID slot_ = 0;
  std::vector<CK_MECHANISM_TYPE> mechanisms_;
  std::unique_ptr<SessionPool> pool_;

  std::mutex cacheMu_;
  std::map<std::pair<std::string, CK_OBJECT_CLASS>, CK_OBJECT_HANDLE> handles_;
  OperationObserver observer_;
};

// Initialises a fresh token on the first free slot of `modulePath` (dev-init and
// tests): sets its label, SO PIN and user PIN.
Result<void> initializeToken(const std::string& modulePath, const std::string& label, const Secret& soPin,
                             const Secret& userPin);

// resource_ref's KeyedMac backed by the HSM key `sealgate-ref-hmac-v<version>`.
class HsmRefMac : public KeyedMac {
 public:
  HsmRefMac(KeyStore& store, unsigned version);
  Result<Mac256> mac(std::string_view data) override;
  unsigned keyVersion() const override { return version_; }

 private:
  KeyStore& store_;
  unsigned version_;
  std::string label_;
};

}  // namespace sealgate::hsm
