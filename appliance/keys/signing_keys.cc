#include "appliance/keys/signing_keys.h"

#include "core/key_labels.h"

namespace sealgate::appliance {

Result<GrantSigningKeys> grantSigningKeys(hsm::KeyStore& keys) {
  auto listed = keys.listKeys();
  if (!listed) return std::move(listed).takeError();
  GrantSigningKeys out;
  for (const auto& k : *listed) {
    const auto version = parseVersionedLabel(k.label, key_labels::kGrantSigning);
    if (!version || k.kind != hsm::KeyKind::EcP256) continue;
    auto spki = keys.publicKeyDer(k.label);
    if (!spki) return std::move(spki).takeError();
    out.versions.push_back({*version, k.label, std::move(*spki)});
  }
  out.sign = [&keys](const std::string& label, std::span<const std::uint8_t> signingInput) {
    return keys.signEcdsaP256(label, signingInput, hsm::SignatureFormat::RawRS);
  };
  return out;
}

Result<CheckpointSigner> hsmCheckpointSigner(hsm::KeyStore& keys, const std::string& prefix) {
  auto version = keys.activeVersion(prefix);
  if (!version) return std::move(version).takeError();
  const std::string label = versionedLabel(prefix, *version);
  auto spki = keys.publicKeyDer(label);
  if (!spki) return std::move(spki).takeError();
  CheckpointSigner s;
  s.keyLabel = label;
  s.spkiDer = std::move(*spki);
  s.sign = [&keys, label](const std::string& text) {
    return keys.signEcdsaP256(label, asBytes(text), hsm::SignatureFormat::Der);
  };
  return s;
}

}  // namespace sealgate::appliance
