#include "core/signed_note.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <memory>

#include "core/openssl_ptr.h"

namespace sealgate::note {
namespace {

// The em dash U+2014 and a space that open every signature line.
constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";

Error noteError(const std::string& m) { return makeError(ErrorCode::NoteInvalid, m); }
Error checkpointError(const std::string& m) { return makeError(ErrorCode::CheckpointInvalid, m); }

using PkeyPtr = EvpPkeyPtr;

// P-256 only: a key of another curve or type never verifies a checkpoint.
Result<PkeyPtr> p256FromSpki(std::span<const std::uint8_t> der) {
  const unsigned char* p = der.data();
  PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (!key || p != der.data() + der.size()) return makeError(ErrorCode::KeyInvalid, "the key is not a DER public key");
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC)
    return makeError(ErrorCode::KeyInvalid, "the key is not an EC key");
  char curve[64] = {0};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key.get(), "group", curve, sizeof curve, &len) != 1 ||
      std::string_view(curve, len) != "prime256v1") {
    return makeError(ErrorCode::KeyInvalid, "the key is not on P-256");
  }
  return key;
}

bool utf8NoControls(std::string_view s) {
  // Control characters other than newline are not allowed in a note.
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

std::optional<Bytes> decodeBase64Std(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  Bytes out(text.size() / 4 * 3);
  const int n =
      EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t pad = 0;
  if (text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  if (base64Std(out) != text) return std::nullopt;  // non-canonical or stray characters
  return out;
}

std::string formatCheckpoint(const Checkpoint& c) {
  return c.origin + "\n" + std::to_string(c.size) + "\n" + base64Std(c.root) + "\n";
}

Result<Checkpoint> parseCheckpoint(std::string_view text) {
  if (text.empty() || text.back() != '\n') return checkpointError("the checkpoint does not end in a newline");
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  if (lines.size() < 3) return checkpointError("a checkpoint has an origin, a size and a root hash");
  for (const auto& l : lines) {
    if (l.empty()) return checkpointError("a checkpoint has no blank lines");
  }
  Checkpoint c;
  c.origin = std::string(lines[0]);
  if (!utf8NoControls(c.origin)) return checkpointError("the origin has control characters");
  const std::string_view size = lines[1];
  if (size.size() > 19 || (size.size() > 1 && size[0] == '0'))
    return checkpointError("the tree size is not a canonical decimal");
  std::uint64_t n = 0;
  for (char ch : size) {
    if (ch < '0' || ch > '9') return checkpointError("the tree size is not a decimal number");
    n = n * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  if (n > (std::uint64_t{1} << 63)) return checkpointError("the tree size is too large");
  c.size = n;
  auto root = decodeBase64Std(lines[2]);
  if (!root || root->size() != 32) return checkpointError("the root hash is not 32 bytes of base64");
  std::copy(root->begin(), root->end(), c.root.begin());
  return c;  // extension lines (3..) are allowed by C2SP and ignored
}

bool validKeyName(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  for (unsigned char c : name) {
    if (c <= 0x20 || c == 0x7f || c == '+') return false;
  }
  return true;
}

Result<SignedNote> parseNote(std::string_view note) {
  if (note.size() > 1 << 20) return noteError("the note is too large");
  const std::size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return noteError("the note has no blank line before its signatures");
  SignedNote out;
  out.text = std::string(note.substr(0, split + 1));
  if (!utf8NoControls(out.text)) return noteError("the note text has control characters");
  if (out.text.find("\n\n") != std::string::npos || out.text == "\n")
    return noteError("the note text has a blank line");
  std::string_view rest = note.substr(split + 2);
  if (rest.empty()) return noteError("the note has no signatures");
  if (rest.back() != '\n') return noteError("the last signature line does not end in a newline");
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    if (line.substr(0, kSigPrefix.size()) != kSigPrefix)
      return noteError("a signature line does not start with an em dash");
    line.remove_prefix(kSigPrefix.size());
    const std::size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return noteError("a signature line has no key name and signature");
    Signature sig;
    sig.keyName = std::string(line.substr(0, sp));
    if (!validKeyName(sig.keyName)) return noteError("a signature line has an invalid key name");
    auto raw = decodeBase64Std(line.substr(sp + 1));
    if (!raw || raw->size() < 5) return noteError("a signature is not base64 of a key ID and a signature");
    sig.keyId = (std::uint32_t{(*raw)[0]} << 24) | (std::uint32_t{(*raw)[1]} << 16) | (std::uint32_t{(*raw)[2]} << 8) |
                std::uint32_t{(*raw)[3]};
    sig.signature.assign(raw->begin() + 4, raw->end());
    out.signatures.push_back(std::move(sig));
    if (out.signatures.size() > kMaxSignatures) return noteError("the note has too many signatures");
  }
  return out;
}

std::string formatNote(const std::string& text, const std::vector<Signature>& signatures) {
  std::string out = text + "\n";
  for (const auto& s : signatures) {
    Bytes raw{static_cast<std::uint8_t>(s.keyId >> 24), static_cast<std::uint8_t>(s.keyId >> 16),
              static_cast<std::uint8_t>(s.keyId >> 8), static_cast<std::uint8_t>(s.keyId)};
    raw.insert(raw.end(), s.signature.begin(), s.signature.end());
    out += std::string(kSigPrefix) + s.keyName + " " + base64Std(raw) + "\n";
  }
  return out;
}

std::uint32_t ecdsaKeyId(std::span<const std::uint8_t> spkiDer) {
  std::uint8_t d[SHA256_DIGEST_LENGTH];
  SHA256(spkiDer.data(), spkiDer.size(), d);
  return (std::uint32_t{d[0]} << 24) | (std::uint32_t{d[1]} << 16) | (std::uint32_t{d[2]} << 8) | std::uint32_t{d[3]};
}

Result<Bytes> p256SpkiFromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return makeError(ErrorCode::KeyInvalid, "cannot read the key");
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return makeError(ErrorCode::KeyInvalid, "the key file is not a PEM public key");
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key.get(), &der);
  if (len <= 0) return makeError(ErrorCode::KeyInvalid, "the public key cannot be encoded");
  Bytes out(der, der + len);
  OPENSSL_free(der);
  SEALGATE_TRY(p256FromSpki(out));
  return out;
}

std::string spkiToPem(std::span<const std::uint8_t> spkiDer) {
  std::string b64 = base64Std(spkiDer);
  std::string out = "-----BEGIN PUBLIC KEY-----\n";
  for (std::size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  return out + "-----END PUBLIC KEY-----\n";
}

Result<void> verifyEcdsa(const SignedNote& note, const std::string& keyName, std::span<const std::uint8_t> spkiDer) {
  SEALGATE_ASSIGN_OR_RETURN(auto key, p256FromSpki(spkiDer));
  const std::uint32_t id = ecdsaKeyId(spkiDer);
  bool seen = false;
  for (const auto& s : note.signatures) {
    if (s.keyName != keyName || s.keyId != id) continue;  // another key: ignored
    seen = true;
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
        EVP_DigestVerify(ctx.get(), s.signature.data(), s.signature.size(),
                         reinterpret_cast<const unsigned char*>(note.text.data()), note.text.size()) != 1) {
      return makeError(ErrorCode::SignatureInvalid, "the signature by " + keyName + " does not verify");
    }
  }
  if (!seen) return makeError(ErrorCode::NoteUnsigned, "the note has no signature by the pinned key " + keyName);
  return Ok{};
}

}  // namespace sealgate::note
