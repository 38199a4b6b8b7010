#include "appliance/connectors/crypto_connectors.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <map>
#include <memory>

#include "appliance/connectors/action_fields.h"
#include "core/encoding.h"
#include "core/openssl_ptr.h"
#include "core/slot_template.h"

namespace sealgate::connectors {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxMessage = 1 << 20;

// The slot a key field names: the field must be exactly one placeholder.
Result<std::string> keySlot(const json& action) {
  if (!action["key"].is_string()) return invalidAction("'key' must be a string");
  auto t = SlotTemplate::parse(action["key"].get<std::string>());
  if (!t) return std::move(t).takeError();
  if (!t->isSingleSlot()) return invalidAction("'key' must be exactly one {{slot:name}} placeholder");
  return *t->slotNames().begin();
}

// The bytes to authenticate or sign. Slots are not allowed in the message: a
// MAC or signature over a secret could be used to test guesses of it.
Result<std::vector<std::uint8_t>> message(const json& action) {
  if (!action["message"].is_string()) return invalidAction("'message' must be a string");
  const std::string& text = action["message"].get_ref<const std::string&>();
  SEALGATE_TRY(forbidSlots(text, "the message"));
  const std::string encoding = action.value("message_encoding", std::string("utf8"));
  std::vector<std::uint8_t> out;
  if (encoding == "utf8") {
    out.assign(text.begin(), text.end());
  } else if (encoding == "base64url") {
    auto raw = decodeBase64UrlNoPad(text);
    if (!raw) return invalidAction("'message' is not base64url without padding");
    out = std::move(*raw);
  } else if (encoding == "hex") {
    auto raw = decodeHex(text);
    if (!raw) return invalidAction("'message' is not hex");
    out = std::move(*raw);
  } else {
    return invalidAction("'message_encoding' is utf8, base64url or hex");
  }
  if (out.size() > kMaxMessage) return invalidAction("'message' is over 1 MiB");
  return out;
}

Result<std::string> encodeOutput(const json& action, std::span<const std::uint8_t> bytes) {
  const std::string output = action.value("output", std::string("base64url"));
  if (output == "hex") return hexLower(bytes);
  if (output == "base64url") return base64UrlNoPad(bytes);
  if (output == "base64") return base64Std(bytes);
  return invalidAction("'output' is base64url, base64 or hex");
}

Result<std::set<std::string>> validateCrypto(const json& action, std::string_view connector,
                                             const std::set<std::string>& algorithms) {
  SEALGATE_TRY(onlyFields(action, connector, {"connector", "key", "algorithm", "message", "message_encoding", "output"},
                          {"connector", "key", "algorithm", "message"}));
  if (!action["algorithm"].is_string() || !algorithms.count(action["algorithm"].get<std::string>())) {
    std::string list;
    for (const auto& a : algorithms) list += (list.empty() ? "" : ", ") + a;
    return invalidAction("'algorithm' is one of " + list);
  }
  SEALGATE_ASSIGN_OR_RETURN(auto slot, keySlot(action));
  SEALGATE_TRY(message(action));
  SEALGATE_TRY(encodeOutput(action, {}));
  return std::set<std::string>{slot};
}

const std::map<std::string, const EVP_MD* (*)()> kHmacDigests{
    {"HS256", EVP_sha256}, {"HS384", EVP_sha384}, {"HS512", EVP_sha512}};

}  // namespace

Result<std::set<std::string>> HmacConnector::validate(const json& action, const ConnectorContext&) const {
  return validateCrypto(action, name(), {"HS256", "HS384", "HS512"});
}

Result<json> HmacConnector::run(const json& action, const ConnectorContext&, const SlotValues& slots) {
  SEALGATE_ASSIGN_OR_RETURN(auto slot, keySlot(action));
  const Secret* key = slots.at(slot);
  if (key->empty()) return makeError(connector_errc::kSecretUnusable, "an HMAC key must not be empty");
  SEALGATE_ASSIGN_OR_RETURN(auto msg, message(action));
  std::uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int macLength = 0;
  const auto keyBytes = key->exposeSecretBytes();
  if (!HMAC(kHmacDigests.at(action["algorithm"])(), keyBytes.data(), static_cast<int>(keyBytes.size()), msg.data(),
            msg.size(), mac, &macLength)) {
    return makeError(connector_errc::kSecretUnusable, "the HMAC could not be computed");
  }
  SEALGATE_ASSIGN_OR_RETURN(auto out, encodeOutput(action, {mac, macLength}));
  return json{{"algorithm", action["algorithm"]}, {"mac", out}};
}

Result<std::set<std::string>> SignConnector::validate(const json& action, const ConnectorContext&) const {
  return validateCrypto(action, name(), {"ES256", "ES384", "EdDSA", "RS256", "PS256"});
}

Result<json> SignConnector::run(const json& action, const ConnectorContext&, const SlotValues& slots) {
  SEALGATE_ASSIGN_OR_RETURN(auto slot, keySlot(action));
  SEALGATE_ASSIGN_OR_RETURN(auto msg, message(action));
  const auto pem = slots.at(slot)->exposeSecretBytes();
  // Read straight from the slot's memory: no copy of the PEM text is made.
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EvpPkeyPtr pkey(bio ? PEM_read_bio_PrivateKey(
                            bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr)
                      : nullptr);
  if (!pkey) return makeError(connector_errc::kSecretUnusable, "the slot does not hold an unencrypted PEM private key");

  const std::string alg = action["algorithm"];
  const int type = EVP_PKEY_base_id(pkey.get());
  const EVP_MD* md = nullptr;
  bool fits = false;
  if (alg == "ES256" || alg == "ES384") {
    // The curve by name: 256 bits alone would let secp256k1 or brainpool sign as ES256.
    char group[64] = {0};
    std::size_t groupLength = 0;
    const bool named =
        type == EVP_PKEY_EC && EVP_PKEY_get_group_name(pkey.get(), group, sizeof group, &groupLength) == 1;
    fits = named && std::string(group, groupLength) == (alg == "ES256" ? "prime256v1" : "secp384r1");
    md = alg == "ES256" ? EVP_sha256() : EVP_sha384();
  } else if (alg == "EdDSA") {
    fits = type == EVP_PKEY_ED25519;
  } else {
    fits = type == EVP_PKEY_RSA && EVP_PKEY_bits(pkey.get()) >= 2048;
    md = EVP_sha256();
  }
  if (!fits) return makeError(connector_errc::kSecretUnusable, "the key does not fit the algorithm " + alg);

  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, pkey.get()) != 1) {
    return makeError(connector_errc::kSecretUnusable, "the key cannot sign");
  }
  if (alg == "PS256" && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return makeError(connector_errc::kSecretUnusable, "the key cannot sign with PSS");
  }
  std::size_t length = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &length, msg.data(), msg.size()) != 1) {
    return makeError(connector_errc::kSecretUnusable, "the signature could not be computed");
  }
  std::vector<std::uint8_t> signature(length);
  if (EVP_DigestSign(ctx.get(), signature.data(), &length, msg.data(), msg.size()) != 1) {
    return makeError(connector_errc::kSecretUnusable, "the signature could not be computed");
  }
  signature.resize(length);
  SEALGATE_ASSIGN_OR_RETURN(auto out, encodeOutput(action, signature));
  // The public key, so the caller can check the signature without asking again.
  BioPtr pub(BIO_new(BIO_s_mem()));
  std::string publicPem;
  if (pub && PEM_write_bio_PUBKEY(pub.get(), pkey.get()) == 1) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(pub.get(), &data);
    publicPem.assign(data, static_cast<std::size_t>(n));
  }
  // ECDSA signatures are DER (as OpenSSL and most verifiers take them).
  return json{{"algorithm", alg}, {"signature", out}, {"public_key_pem", publicPem}};
}

}  // namespace sealgate::connectors
