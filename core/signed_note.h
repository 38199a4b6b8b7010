// C2SP signed notes and tlog checkpoints (docs/STANDARDS.md, "Audit logs").
//
// A checkpoint body is "<origin>\n<size>\n<base64 root>\n"; the signed note is the
// body, a blank line, then lines "— <key name> <base64(key ID || signature)>".
// sealgate signs with type 0x02 (ECDSA P-256) as Sigstore's Rekor and the
// transparency-dev witness do: key ID = SHA-256(DER SubjectPublicKeyInfo)[:4],
// signature = ASN.1 DER ECDSA over SHA-256(note text).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/encoding.h"
#include "core/merkle.h"
#include "core/result.h"

namespace sealgate::note {

struct Checkpoint {
  std::string origin;
  std::uint64_t size = 0;
  merkle::Hash root{};
};

struct Signature {
  std::string keyName;
  std::uint32_t keyId = 0;
  Bytes signature;  // after the 4-byte key ID
};

struct SignedNote {
  std::string text;  // the signed bytes, ending in '\n'
  std::vector<Signature> signatures;
};

// The most signature lines a note may carry (C2SP: a verifier accepts at least 16).
inline constexpr std::size_t kMaxSignatures = 64;

std::string formatCheckpoint(const Checkpoint& c);
// Errors: CHECKPOINT_INVALID (which line is wrong).
Result<Checkpoint> parseCheckpoint(std::string_view text);

// Errors: NOTE_INVALID (what is malformed).
Result<SignedNote> parseNote(std::string_view note);
std::string formatNote(const std::string& text, const std::vector<Signature>& signatures);

// Key names: non-empty, no whitespace, no '+', printable.
bool validKeyName(std::string_view name);

// SHA-256(der)[:4], big-endian.
std::uint32_t ecdsaKeyId(std::span<const std::uint8_t> spkiDer);

// DER SPKI of an EC P-256 public key given as PEM ("-----BEGIN PUBLIC KEY-----").
// Errors: KEY_INVALID.
Result<Bytes> p256SpkiFromPem(std::string_view pem);
std::string spkiToPem(std::span<const std::uint8_t> spkiDer);

// Verifies `note` against one pinned P-256 key named `keyName`: signatures by
// other keys are ignored; the note is rejected when the pinned key has no
// signature on it or any of its signatures fails. Errors: NOTE_UNSIGNED,
// SIGNATURE_INVALID, KEY_INVALID.
Result<void> verifyEcdsa(const SignedNote& note, const std::string& keyName, std::span<const std::uint8_t> spkiDer);

// Standard base64 (with padding), strict: rejects anything that does not
// re-encode to the same text.
std::optional<Bytes> decodeBase64Std(std::string_view text);

}  // namespace sealgate::note
