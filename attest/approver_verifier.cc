#include "attest/approver_verifier.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

namespace sealgate::attest {
namespace {

constexpr std::size_t kSha256Size = SHA256_DIGEST_LENGTH;

// Zeroes a buffer of key material on every way out of a scope.
struct WipeBuffer {
  void* data;
  std::size_t size;
  ~WipeBuffer() { secureWipe(data, size); }
};

std::string opensslReason() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no OpenSSL error queued";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::array<std::uint8_t, 2> be16(std::size_t v) {
  return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}

// Unmarshals a TPM2B_PUBLIC that must use all of `in` and re-marshal to the same
// bytes (so the name computed here is the name the TPM computes), and returns
// the name: nameAlg ‖ H(marshalled TPMT_PUBLIC). SHA-256 names, and SHA-384
// ones where `allowSha384` (the P-384 EK's template uses SHA-384).
Result<Bytes> unmarshalPublic(std::span<const std::uint8_t> in, TPM2B_PUBLIC& pub, ErrorCode refusal,
                              bool allowSha384 = false) {
  std::size_t offset = 0;
  TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(in.data(), in.size(), &offset, &pub);
  if (rc != TSS2_RC_SUCCESS) return makeError(refusal, "not a marshalled TPM2B_PUBLIC");
  if (offset != in.size()) return makeError(refusal, "trailing bytes after the TPM2B_PUBLIC");
  std::array<std::uint8_t, sizeof(TPMT_PUBLIC)> area{};
  std::size_t areaSize = 0;
  rc = Tss2_MU_TPMT_PUBLIC_Marshal(&pub.publicArea, area.data(), area.size(), &areaSize);
  if (rc != TSS2_RC_SUCCESS || areaSize + 2 != in.size() ||
      !std::equal(area.begin(), area.begin() + areaSize, in.begin() + 2)) {
    return makeError(refusal, "the TPM2B_PUBLIC is not canonically encoded");
  }
  const TPMI_ALG_HASH alg = pub.publicArea.nameAlg;
  const EVP_MD* md = nullptr;
  if (alg == TPM2_ALG_SHA256) md = EVP_sha256();
  if (alg == TPM2_ALG_SHA384 && allowSha384) md = EVP_sha384();
  if (!md)
    return makeError(
        refusal, allowSha384 ? "the name algorithm is not SHA-256 or SHA-384" : "the name algorithm is not SHA-256");
  Bytes name(2 + static_cast<std::size_t>(EVP_MD_get_size(md)));
  name[0] = static_cast<std::uint8_t>(alg >> 8);
  name[1] = static_cast<std::uint8_t>(alg);
  if (EVP_Digest(area.data(), areaSize, name.data() + 2, nullptr, md, nullptr) != 1) {
    return makeError(verifier_errc::kCrypto, "EVP_Digest: " + opensslReason());
  }
  return name;
}

Result<EvpPkeyPtr> fromParams(const char* type, OSSL_PARAM_BLD* bld) {
  OsslParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return makeError(verifier_errc::kCrypto, "EVP_PKEY_fromdata: " + opensslReason());
  }
  EvpPkeyPtr key(raw);
  // The point is on the curve (or the RSA key sane): an invalid key is refused
  // by the caller's code, not turned into a verifier that accepts nonsense.
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    ERR_clear_error();
    return makeError(verifier_errc::kBadInput, "the public key does not pass OpenSSL's public key check");
  }
  return key;
}

// An OpenSSL key from an ECC public area: P-256 or P-384, the point uncompressed.
Result<EvpPkeyPtr> eccKey(const TPMS_ECC_POINT& point, TPMI_ECC_CURVE curve) {
  const char* group = nullptr;
  std::size_t size = 0;
  if (curve == TPM2_ECC_NIST_P256) {
    group = "prime256v1";
    size = 32;
  } else if (curve == TPM2_ECC_NIST_P384) {
    group = "secp384r1";
    size = 48;
  } else {
    return makeError(verifier_errc::kBadInput, "an ECC curve other than P-256 or P-384");
  }
  if (point.x.size != size || point.y.size != size) {
    return makeError(verifier_errc::kBadInput, "the ECC point's coordinates are not the curve's size");
  }
  Bytes encoded{0x04};
  encoded.insert(encoded.end(), point.x.buffer, point.x.buffer + size);
  encoded.insert(encoded.end(), point.y.buffer, point.y.buffer + size);
  OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, encoded.data(), encoded.size()) != 1) {
    return makeError(verifier_errc::kCrypto, "OSSL_PARAM_BLD: " + opensslReason());
  }
  return fromParams("EC", bld.get());
}

Result<EvpPkeyPtr> rsaKey(const TPM2B_PUBLIC_KEY_RSA& modulus, std::uint32_t exponent) {
  BignumPtr n(BN_bin2bn(modulus.buffer, modulus.size, nullptr));
  BignumPtr e(BN_new());
  OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
  // A zero exponent in a TPM public area means the default, 2^16 + 1.
  if (!n || !e || !bld || BN_set_word(e.get(), exponent == 0 ? 65537 : exponent) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return makeError(verifier_errc::kCrypto, "OSSL_PARAM_BLD: " + opensslReason());
  }
  return fromParams("RSA", bld.get());
}

Result<Bytes> randomBytes(std::size_t n) {
  Bytes out(n);
  if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
    return makeError(verifier_errc::kCrypto, "RAND_bytes: " + opensslReason());
  }
  return out;
}

// KDFa with SHA-256 (TPM 2.0 Part 1, "KDFa" in the key derivation functions
// section): SP 800-108 counter mode with HMAC,
//   K(i) = HMAC(key, [i]32 ‖ label ‖ 0x00 ‖ contextU ‖ contextV ‖ [bits]32),
// the first `bits` bits of K(1) ‖ K(2) ‖ ... . That is OpenSSL 3's KBKDF with
// its defaults (32-bit counter first, a 0x00 separator after the label, [L]32
// last), the label as "salt" without its NUL and contextU ‖ contextV as "info".
// Whole bytes only (the credential needs 128 or 256 bits).
Result<Bytes> kdfaSha256(std::span<const std::uint8_t> key, std::string_view label,
                         std::span<const std::uint8_t> contextU, std::span<const std::uint8_t> contextV,
                         std::uint32_t bits) {
  if (bits == 0 || bits % 8 != 0) return makeError(verifier_errc::kBadInput, "KDFa of a whole number of bytes");
  Bytes context(contextU.begin(), contextU.end());
  context.insert(context.end(), contextV.begin(), contextV.end());
  OpensslPtr<EVP_KDF, EVP_KDF_free> kdf(EVP_KDF_fetch(nullptr, "KBKDF", nullptr));
  OpensslPtr<EVP_KDF_CTX, EVP_KDF_CTX_free> ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
  char mode[] = "COUNTER";
  char mac[] = "HMAC";
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, mode, 0),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, mac, 0),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(key.data()), key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(label.data()), label.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, context.data(), context.size()),
      OSSL_PARAM_construct_end(),
  };
  Bytes out(bits / 8);
  if (!ctx || EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return makeError(verifier_errc::kCrypto, "KBKDF (KDFa): " + opensslReason());
  }
  return out;
}

// RSA-OAEP(SHA-256, MGF1-SHA-256) with the label "IDENTITY" and its NUL: how the
// credential's seed is encrypted to an RSA EK.
Result<Bytes> oaepEncryptSeed(EVP_PKEY* ek, std::span<const std::uint8_t> seed) {
  static constexpr char kLabel[] = "IDENTITY";  // sizeof includes the NUL, which the label carries
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, ek, nullptr));
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) != 1) {
    return makeError(verifier_errc::kCrypto, "RSA-OAEP setup: " + opensslReason());
  }
  // set0 takes ownership of the label: it must come from OPENSSL_malloc.
  void* label = OPENSSL_memdup(kLabel, sizeof kLabel);
  if (!label || EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), label, sizeof kLabel) <= 0) {
    OPENSSL_free(label);
    return makeError(verifier_errc::kCrypto, "RSA-OAEP label: " + opensslReason());
  }
  std::size_t outLen = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &outLen, seed.data(), seed.size()) != 1) {
    return makeError(verifier_errc::kCrypto, "RSA-OAEP: " + opensslReason());
  }
  Bytes out(outLen);
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &outLen, seed.data(), seed.size()) != 1) {
    return makeError(verifier_errc::kCrypto, "RSA-OAEP: " + opensslReason());
  }
  out.resize(outLen);
  return out;
}

Result<Bytes> aesCfbEncrypt(std::span<const std::uint8_t> key, std::span<const std::uint8_t> plain) {
  const EVP_CIPHER* cipher = nullptr;
  if (key.size() == 16) cipher = EVP_aes_128_cfb128();
  if (key.size() == 32) cipher = EVP_aes_256_cfb128();
  if (!cipher) return makeError(verifier_errc::kEkUntrusted, "the EK's symmetric key size is not AES-128 or AES-256");
  const std::array<std::uint8_t, 16> iv{};  // a zero IV: each symKey encrypts once
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  Bytes out(plain.size() + 16);
  int len = 0;
  int tail = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, key.data(), iv.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data(), &len, plain.data(), static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + len, &tail) != 1) {
    return makeError(verifier_errc::kCrypto, "AES-CFB: " + opensslReason());
  }
  out.resize(static_cast<std::size_t>(len + tail));
  return out;
}

Result<X509Ptr> readCertificate(std::span<const std::uint8_t> in) {
  static constexpr std::string_view kPem = "-----BEGIN";
  X509* cert = nullptr;
  if (in.size() >= kPem.size() && std::equal(kPem.begin(), kPem.end(), in.begin())) {
    BioPtr bio(BIO_new_mem_buf(in.data(), static_cast<int>(in.size())));
    if (bio) cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  } else {
    const unsigned char* p = in.data();
    cert = d2i_X509(nullptr, &p, static_cast<long>(in.size()));
    // The NV index holds exactly the DER: trailing bytes are refused.
    if (cert && p != in.data() + in.size()) {
      X509_free(cert);
      cert = nullptr;
    }
  }
  ERR_clear_error();
  if (!cert) return makeError(verifier_errc::kEkUntrusted, "the EK certificate is not one DER or PEM certificate");
  return X509Ptr(cert);
}

// Appends the PCR indices a selection bitmap selects, ascending.
void addSelected(std::vector<unsigned>& pcrs, const TPMS_PCR_SELECTION& sel) {
  for (unsigned byte = 0; byte < sel.sizeofSelect && byte < sizeof sel.pcrSelect; ++byte) {
    for (unsigned bit = 0; bit < 8; ++bit) {
      if (sel.pcrSelect[byte] & (1u << bit)) pcrs.push_back(byte * 8 + bit);
    }
  }
}

Result<void> checkExpectation(const QuoteExpectation& expect) {
  if (expect.qualifyingData.empty() || expect.qualifyingData.size() > 64) {
    return makeError(verifier_errc::kBadInput, "the qualifying data is 1..64 bytes");
  }
  if (expect.pcrs.empty()) return makeError(verifier_errc::kBadInput, "a quote covers at least one PCR");
  for (unsigned p : expect.pcrs) {
    if (p > 23) return makeError(verifier_errc::kBadInput, "PCR indices are 0..23");
  }
  if (expect.pcrDigest.size() != kSha256Size) {
    return makeError(verifier_errc::kBadInput, "the golden PCR digest is a SHA-256 digest");
  }
  return Ok{};
}

// r ‖ s of a TPM ECDSA signature as the DER ECDSA-Sig-Value OpenSSL verifies.
Result<Bytes> ecdsaDer(const TPMS_SIGNATURE_ECC& sig) {
  if (sig.signatureR.size == 0 || sig.signatureR.size > 32 || sig.signatureS.size == 0 || sig.signatureS.size > 32) {
    return makeError(verifier_errc::kSignature, "the ECDSA signature's r or s is not a P-256 scalar");
  }
  EcdsaSigPtr s(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(sig.signatureR.buffer, sig.signatureR.size, nullptr);
  BIGNUM* sv = BN_bin2bn(sig.signatureS.buffer, sig.signatureS.size, nullptr);
  if (!s || !r || !sv || ECDSA_SIG_set0(s.get(), r, sv) != 1) {
    BN_free(r);
    BN_free(sv);
    return makeError(verifier_errc::kCrypto, "ECDSA_SIG: " + opensslReason());
  }
  const int len = i2d_ECDSA_SIG(s.get(), nullptr);
  if (len <= 0) return makeError(verifier_errc::kCrypto, "i2d_ECDSA_SIG: " + opensslReason());
  Bytes der(static_cast<std::size_t>(len));
  unsigned char* p = der.data();
  i2d_ECDSA_SIG(s.get(), &p);
  return der;
}

}  // namespace

Result<EkPublic> parseEkPublic(std::span<const std::uint8_t> tpm2bPublic) {
  TPM2B_PUBLIC pub{};
  SEALGATE_ASSIGN_OR_RETURN(Bytes name, unmarshalPublic(tpm2bPublic, pub, verifier_errc::kEkUntrusted, true));
  const TPMT_PUBLIC& area = pub.publicArea;
  const TPMA_OBJECT required =
      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT;
  if ((area.objectAttributes & required) != required || (area.objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT)) {
    return makeError(verifier_errc::kEkUntrusted, "the EK is not a restricted, TPM-bound decryption key");
  }
  EkPublic ek;
  ek.marshalled.assign(tpm2bPublic.begin(), tpm2bPublic.end());
  ek.name = std::move(name);
  const TPMT_SYM_DEF_OBJECT* sym = nullptr;
  if (area.type == TPM2_ALG_RSA) {
    if (area.parameters.rsaDetail.keyBits != 2048 || area.unique.rsa.size != 256 || area.nameAlg != TPM2_ALG_SHA256) {
      return makeError(verifier_errc::kEkUntrusted, "an RSA EK other than RSA-2048 with a SHA-256 name");
    }
    ek.rsa = true;
    sym = &area.parameters.rsaDetail.symmetric;
    auto key = rsaKey(area.unique.rsa, area.parameters.rsaDetail.exponent);
    if (!key) return makeError(verifier_errc::kEkUntrusted, "the EK's RSA key: " + key.error().message);
    ek.key = std::move(*key);
  } else if (area.type == TPM2_ALG_ECC) {
    sym = &area.parameters.eccDetail.symmetric;
    auto key = eccKey(area.unique.ecc, area.parameters.eccDetail.curveID);
    if (!key) return makeError(verifier_errc::kEkUntrusted, "the EK's ECC key: " + key.error().message);
    ek.key = std::move(*key);
  } else {
    return makeError(verifier_errc::kEkUntrusted, "the EK is neither RSA nor ECC");
  }
  if (sym->algorithm != TPM2_ALG_AES || sym->mode.aes != TPM2_ALG_CFB ||
      (sym->keyBits.aes != 128 && sym->keyBits.aes != 256)) {
    return makeError(verifier_errc::kEkUntrusted, "the EK's symmetric algorithm is not AES-CFB");
  }
  ek.symmetricKeyBits = sym->keyBits.aes;
  return ek;
}

Result<void> verifyEkCertificate(std::span<const std::uint8_t> certificate, const EkPublic& ek,
                                 const std::string& caBundlePath) {
  if (!ek.key) return makeError(verifier_errc::kBadInput, "no EK key");
  SEALGATE_ASSIGN_OR_RETURN(X509Ptr cert, readCertificate(certificate));
  X509StorePtr store(X509_STORE_new());
  if (!store || X509_STORE_load_file(store.get(), caBundlePath.c_str()) != 1) {
    ERR_clear_error();
    return makeError(verifier_errc::kBadInput, "cannot read the TPM vendor CA bundle " + caBundlePath);
  }
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) {
    return makeError(verifier_errc::kCrypto, "X509_STORE_CTX_init: " + opensslReason());
  }
  // No X509_V_FLAG_PARTIAL_CHAIN: only a self-signed root of the bundle anchors
  // the chain (the header says why).
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return makeError(verifier_errc::kEkUntrusted,
                     std::string("the EK certificate does not chain to the TPM vendor CA bundle: ") +
                         X509_verify_cert_error_string(err));
  }
  EVP_PKEY* certKey = X509_get0_pubkey(cert.get());
  if (!certKey || EVP_PKEY_eq(certKey, ek.key.get()) != 1) {
    ERR_clear_error();
    return makeError(verifier_errc::kEkMismatch, "the EK certificate's key is not the EK public area's key");
  }
  return Ok{};
}

Result<AkPublic> parseAkPublic(std::span<const std::uint8_t> tpm2bPublic) {
  TPM2B_PUBLIC pub{};
  SEALGATE_ASSIGN_OR_RETURN(Bytes name, unmarshalPublic(tpm2bPublic, pub, verifier_errc::kAkRejected));
  const TPMT_PUBLIC& area = pub.publicArea;
  const TPMA_OBJECT required = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |
                               TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN;
  if ((area.objectAttributes & required) != required) {
    return makeError(verifier_errc::kAkRejected,
                     "the AK is not a restricted signing key generated in and bound to its TPM "
                     "(RESTRICTED, SIGN_ENCRYPT, FIXEDTPM, FIXEDPARENT, SENSITIVEDATAORIGIN)");
  }
  if (area.objectAttributes & TPMA_OBJECT_DECRYPT) {
    return makeError(verifier_errc::kAkRejected, "the AK is also a decryption key");
  }
  if (area.type != TPM2_ALG_ECC) return makeError(verifier_errc::kAkRejected, "the AK is not an ECC key");
  const TPMS_ECC_PARMS& ecc = area.parameters.eccDetail;
  if (ecc.curveID != TPM2_ECC_NIST_P256 || ecc.scheme.scheme != TPM2_ALG_ECDSA ||
      ecc.scheme.details.ecdsa.hashAlg != TPM2_ALG_SHA256 || ecc.symmetric.algorithm != TPM2_ALG_NULL ||
      ecc.kdf.scheme != TPM2_ALG_NULL) {
    return makeError(verifier_errc::kAkRejected, "the AK is not P-256 with the ECDSA-SHA256 scheme");
  }
  auto key = eccKey(area.unique.ecc, ecc.curveID);
  if (!key) return makeError(verifier_errc::kAkRejected, "the AK's ECC point: " + key.error().message);
  AkPublic ak;
  ak.marshalled.assign(tpm2bPublic.begin(), tpm2bPublic.end());
  ak.name = std::move(name);
  ak.key = std::move(*key);
  const int spkiLen = i2d_PUBKEY(ak.key.get(), nullptr);
  if (spkiLen <= 0) return makeError(verifier_errc::kCrypto, "i2d_PUBKEY: " + opensslReason());
  Bytes spki(static_cast<std::size_t>(spkiLen));
  unsigned char* p = spki.data();
  i2d_PUBKEY(ak.key.get(), &p);
  std::array<std::uint8_t, kSha256Size> fp{};
  SHA256(spki.data(), spki.size(), fp.data());
  ak.fingerprint = hexLower(fp);
  return ak;
}

Result<Credential> makeCredential(const EkPublic& ek, std::span<const std::uint8_t> akName, const Secret& secret) {
  if (!ek.rsa || !ek.key) return makeError(verifier_errc::kEkUntrusted, "credentials are made for RSA-2048 EKs only");
  if (akName.size() != kSha256NameSize || akName[0] != 0x00 || akName[1] != TPM2_ALG_SHA256) {
    return makeError(verifier_errc::kBadInput, "the AK name is not a SHA-256 TPM name");
  }
  if (secret.empty() || secret.size() > kSha256Size) {
    return makeError(verifier_errc::kBadInput, "the credential secret is 1..32 bytes");
  }
  // The seed: as many bytes as the EK's nameAlg digest.
  SEALGATE_ASSIGN_OR_RETURN(Bytes seed, randomBytes(kSha256Size));
  WipeBuffer wipeSeed{seed.data(), seed.size()};
  SEALGATE_ASSIGN_OR_RETURN(Bytes encSeed, oaepEncryptSeed(ek.key.get(), seed));

  // Inner: the TPM2B_DIGEST of the secret, AES-CFB under
  // symKey = KDFa(seed, "STORAGE", name, -, EK's symmetric key bits), IV zero.
  SEALGATE_ASSIGN_OR_RETURN(Bytes symKey, kdfaSha256(seed, "STORAGE", akName, {}, ek.symmetricKeyBits));
  WipeBuffer wipeSymKey{symKey.data(), symKey.size()};
  const auto secretBytes = secret.exposeSecretBytes();
  Bytes plain(2 + secretBytes.size());
  WipeBuffer wipePlain{plain.data(), plain.size()};
  const auto size = be16(secretBytes.size());
  std::copy(size.begin(), size.end(), plain.begin());
  std::copy(secretBytes.begin(), secretBytes.end(), plain.begin() + 2);
  SEALGATE_ASSIGN_OR_RETURN(Bytes encIdentity, aesCfbEncrypt(symKey, plain));

  // Outer: HMAC-SHA256 under KDFa(seed, "INTEGRITY", -, -, 256) over
  // encIdentity ‖ name; the TPM checks it before it decrypts.
  SEALGATE_ASSIGN_OR_RETURN(Bytes hmacKey, kdfaSha256(seed, "INTEGRITY", {}, {}, kSha256Size * 8));
  WipeBuffer wipeHmacKey{hmacKey.data(), hmacKey.size()};
  Bytes macInput = encIdentity;
  macInput.insert(macInput.end(), akName.begin(), akName.end());
  std::array<std::uint8_t, kSha256Size> outerHmac{};
  unsigned macLen = 0;
  if (!HMAC(EVP_sha256(), hmacKey.data(), static_cast<int>(hmacKey.size()), macInput.data(), macInput.size(),
            outerHmac.data(), &macLen)) {
    return makeError(verifier_errc::kCrypto, "HMAC: " + opensslReason());
  }

  // TPM2B_ID_OBJECT { TPM2B_DIGEST(outerHMAC) ‖ encIdentity }.
  Credential out;
  const std::size_t idSize = 2 + outerHmac.size() + encIdentity.size();
  const auto idSizeBe = be16(idSize);
  const auto hmacSizeBe = be16(outerHmac.size());
  out.credentialBlob.assign(idSizeBe.begin(), idSizeBe.end());
  out.credentialBlob.insert(out.credentialBlob.end(), hmacSizeBe.begin(), hmacSizeBe.end());
  out.credentialBlob.insert(out.credentialBlob.end(), outerHmac.begin(), outerHmac.end());
  out.credentialBlob.insert(out.credentialBlob.end(), encIdentity.begin(), encIdentity.end());
  // TPM2B_ENCRYPTED_SECRET { OAEP(seed) }.
  const auto secretSizeBe = be16(encSeed.size());
  out.encryptedSecret.assign(secretSizeBe.begin(), secretSizeBe.end());
  out.encryptedSecret.insert(out.encryptedSecret.end(), encSeed.begin(), encSeed.end());
  return out;
}

Result<void> checkActivatedSecret(const Secret& issued, const Secret& returned) {
  if (issued.empty() || !issued.equals(returned)) {
    return makeError(verifier_errc::kCredential, "the activated credential is not the issued secret");
  }
  return Ok{};
}

bool isAfter(const TpmClock& prev, const TpmClock& cur) {
  if (cur.resetCount != prev.resetCount) return cur.resetCount > prev.resetCount;
  if (cur.restartCount != prev.restartCount) return cur.restartCount > prev.restartCount;
  return cur.clock > prev.clock;
}

Result<void> checkFresh(const TpmClock& prev, const TpmClock& cur) {
  if (!isAfter(prev, cur)) {
    return makeError(verifier_errc::kNotFresh, "the quote's TPM clock is not after the last accepted quote's");
  }
  return Ok{};
}

Bytes pcrCompositeDigest(const std::vector<Bytes>& values) {
  Bytes digest(kSha256Size);
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  for (const auto& v : values) EVP_DigestUpdate(ctx.get(), v.data(), v.size());
  EVP_DigestFinal_ex(ctx.get(), digest.data(), nullptr);
  return digest;
}

namespace {

// parseQuote, also handing out the unmarshalled signature.
Result<ParsedQuote> parseQuoteAndSignature(std::span<const std::uint8_t> attest,
                                           std::span<const std::uint8_t> signature, TPMT_SIGNATURE& sig) {
  TPMS_ATTEST a{};
  std::size_t offset = 0;
  if (Tss2_MU_TPMS_ATTEST_Unmarshal(attest.data(), attest.size(), &offset, &a) != TSS2_RC_SUCCESS ||
      offset != attest.size()) {
    return makeError(verifier_errc::kMalformed, "the attest is not one TPMS_ATTEST");
  }
  offset = 0;
  if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(signature.data(), signature.size(), &offset, &sig) != TSS2_RC_SUCCESS ||
      offset != signature.size()) {
    return makeError(verifier_errc::kMalformed, "the signature is not one TPMT_SIGNATURE");
  }
  if (a.magic != TPM2_GENERATED_VALUE) return makeError(verifier_errc::kMalformed, "the attest is not TPM-generated");
  if (a.type != TPM2_ST_ATTEST_QUOTE) return makeError(verifier_errc::kMalformed, "the attest is not a quote");
  ParsedQuote q;
  q.clock.clock = a.clockInfo.clock;
  q.clock.resetCount = a.clockInfo.resetCount;
  q.clock.restartCount = a.clockInfo.restartCount;
  q.clock.safe = a.clockInfo.safe == TPM2_YES;
  q.firmwareVersion = a.firmwareVersion;
  q.extraData.assign(a.extraData.buffer, a.extraData.buffer + a.extraData.size);
  const TPMS_QUOTE_INFO& info = a.attested.quote;
  for (std::uint32_t i = 0; i < info.pcrSelect.count; ++i) {
    const TPMS_PCR_SELECTION& sel = info.pcrSelect.pcrSelections[i];
    if (sel.hash != TPM2_ALG_SHA256 || info.pcrSelect.count != 1) {
      q.otherBanks = true;
      continue;
    }
    addSelected(q.pcrs, sel);
  }
  q.pcrDigest.assign(info.pcrDigest.buffer, info.pcrDigest.buffer + info.pcrDigest.size);
  return q;
}

}  // namespace

Result<ParsedQuote> parseQuote(std::span<const std::uint8_t> attest, std::span<const std::uint8_t> signature) {
  TPMT_SIGNATURE sig{};
  return parseQuoteAndSignature(attest, signature, sig);
}

Result<ParsedQuote> verifyQuote(const AkPublic& ak, std::span<const std::uint8_t> attest,
                                std::span<const std::uint8_t> signature, const QuoteExpectation& expect) {
  SEALGATE_TRY(checkExpectation(expect));
  if (!ak.key) return makeError(verifier_errc::kBadInput, "no AK key");
  TPMT_SIGNATURE sig{};
  SEALGATE_ASSIGN_OR_RETURN(ParsedQuote q, parseQuoteAndSignature(attest, signature, sig));

  // The signature first: nothing in the attest is believed before it verifies.
  if (sig.sigAlg != TPM2_ALG_ECDSA || sig.signature.ecdsa.hash != TPM2_ALG_SHA256) {
    return makeError(verifier_errc::kSignature, "the quote is not signed with ECDSA-SHA256, the AK's scheme");
  }
  SEALGATE_ASSIGN_OR_RETURN(Bytes der, ecdsaDer(sig.signature.ecdsa));
  EvpMdCtxPtr md(EVP_MD_CTX_new());
  if (!md || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, ak.key.get()) != 1) {
    return makeError(verifier_errc::kCrypto, "EVP_DigestVerifyInit: " + opensslReason());
  }
  const int verified = EVP_DigestVerify(md.get(), der.data(), der.size(), attest.data(), attest.size());
  ERR_clear_error();
  if (verified != 1) return makeError(verifier_errc::kSignature, "the quote's signature does not verify with the AK");

  if (!constantTimeEquals(q.extraData, expect.qualifyingData)) {
    return makeError(verifier_errc::kNonce, "the quote's qualifying data is not the challenge");
  }
  std::vector<unsigned> wanted = expect.pcrs;
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  if (q.otherBanks || q.pcrs != wanted) {
    return makeError(verifier_errc::kPcr, "the quote covers other PCRs than the enrolled selection");
  }
  if (!constantTimeEquals(q.pcrDigest, expect.pcrDigest)) {
    return makeError(verifier_errc::kPcr, "the quoted PCR values differ from the enrolled ones");
  }
  return q;
}

}  // namespace sealgate::attest
