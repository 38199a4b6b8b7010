#include "appliance/keys/signing_keys.h"

#include "core/key_labels.h"

namespace sealgate::appliance {

Result<GrantSigningKeys> grantSigningKeys(hsm::KeyStore& keys) {
  SEALGATE_ASSIGN_OR_RETURN(auto listed, keys.listKeys());
  GrantSigningKeys out;
  for (const auto& k : listed) {
    const auto version = parseVersionedLabel(k.label, key_labels::kGrantSigning);
    if (!version || k.kind != hsm::KeyKind::EcP256) continue;
    SEALGATE_ASSIGN_OR_RETURN(auto spki, keys.publicKeyDer(k.label));
    out.versions.push_back({*version, k.label, std::move(spki)});
  }
  out.sign = [&keys](const std::string& label, std::span<const std::uint8_t> signingInput) {
    return keys.signEcdsaP256(label, signingInput, hsm::SignatureFormat::RawRS);
  };
  return out;
}

Result<CheckpointSigner> hsmCheckpointSigner(hsm::KeyStore& keys, const std::string& prefix) {
  SEALGATE_ASSIGN_OR_RETURN(auto version, keys.activeVersion(prefix));
  const std::string label = versionedLabel(prefix, version);
  SEALGATE_ASSIGN_OR_RETURN(auto spki, keys.publicKeyDer(label));
  CheckpointSigner s;
  s.keyLabel = label;
  s.spkiDer = std::move(spki);
  s.sign = [&keys, label](const std::string& text) {
    return keys.signEcdsaP256(label, asBytes(text), hsm::SignatureFormat::Der);
  };
  return s;
}

}  // namespace sealgate::appliance
