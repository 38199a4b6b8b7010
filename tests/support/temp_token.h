// Test support: fresh SoftHSM2 tokens in a temporary directory.
//
// SoftHSM reads SOFTHSM2_CONF once per process (at C_Initialize), so every token
// of a test process lives in one per-process directory, removed at exit.
#pragma once

#include <string>

#include "hsm/key_store.h"
#include "hsm/pkcs11_module.h"

namespace sealgate::testing {

inline constexpr const char* kSoftHsmModule = "/usr/lib/softhsm/libsofthsm2.so";

// The per-process scratch directory (created on first use, removed at exit).
const std::string& scratchDir();

// Initialises a new token labelled `label` (user PIN in a 0600 file) and returns
// the config to open it.
hsm::KeyStoreConfig createToken(const std::string& label);

// Opens `createToken(label)`, aborting the test binary on failure.
std::unique_ptr<hsm::KeyStore> openFreshToken(const std::string& label);

// A raw PKCS#11 session on the token `store` uses, beside its session pool, for
// tests and benchmarks that reach past the key store (to show what the token
// itself refuses, or to measure raw PKCS#11). Logged in already while the store
// is: PKCS#11 login state is per application and slot.
Result<hsm::Pkcs11Session> openRawSession(const hsm::KeyStore& store);

}  // namespace sealgate::testing
