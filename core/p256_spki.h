// The fixed DER layout of an uncompressed EC P-256 SubjectPublicKeyInfo, as the
// HSM hands out and the JWS code builds and reads it: a 26-byte header, 0x04,
// X (32 bytes), Y (32 bytes).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

namespace sealgate {

inline constexpr std::array<std::uint8_t, 26> kP256SpkiPrefix = {
    0x30, 0x59,                                                  // SEQUENCE (89)
    0x30, 0x13,                                                  //   SEQUENCE (19): AlgorithmIdentifier
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,        //     OID 1.2.840.10045.2.1 (id-ecPublicKey)
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,  //     OID 1.2.840.10045.3.1.7 (prime256v1)
    0x03, 0x42, 0x00};                                           //   BIT STRING (66), no unused bits
// The DER OID of prime256v1 (CKA_EC_PARAMS wants it): the prefix's curve OID.
inline constexpr std::array<std::uint8_t, 10> kP256CurveOid = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                                               0xce, 0x3d, 0x03, 0x01, 0x07};
static_assert(std::equal(kP256CurveOid.begin(), kP256CurveOid.end(), kP256SpkiPrefix.begin() + 13));

// X starts after the prefix and the uncompressed-point marker 0x04.
inline constexpr std::size_t kP256SpkiPointOffset = kP256SpkiPrefix.size() + 1;
inline constexpr std::size_t kP256SpkiBytes = kP256SpkiPointOffset + 64;

}  // namespace sealgate
