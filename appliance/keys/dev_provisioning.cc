#include "appliance/keys/dev_provisioning.h"

#include "attest/swtpm_process.h"
#include "hsm/key_store.h"

namespace sealgate::appliance {

Result<Bytes> createDevToken(const std::string& module, const std::string& tokenLabel, const Secret& soPin,
                             const Secret& userPin, const std::string& userPinFile) {
  SEALGATE_TRY(hsm::initializeToken(module, tokenLabel, soPin, userPin));
  hsm::KeyStoreConfig config;
  config.modulePath = module;
  config.tokenLabel = tokenLabel;
  config.pin.file = userPinFile;
  SEALGATE_ASSIGN_OR_RETURN(auto keys, hsm::KeyStore::open(config));
  for (const auto& label : kDevHmacKeys) SEALGATE_TRY(keys->generateHmacKey(label));
  for (const auto& label : kDevEcKeys) SEALGATE_TRY(keys->generateEcP256Key(label));
  for (const auto& label : kDevAesKeys) SEALGATE_TRY(keys->generateAes256Key(label));
  return keys->publicKeyDer(key_labels::kTls);
}

Result<std::unique_ptr<DevSoftwareTpm>> DevSoftwareTpm::start(const std::string& stateDir) {
  SEALGATE_ASSIGN_OR_RETURN(auto process, attest::SwtpmProcess::start(stateDir));
  std::unique_ptr<DevSoftwareTpm> tpm(new DevSoftwareTpm());
  tpm->process_ = std::move(process);
  return tpm;
}

std::string DevSoftwareTpm::tcti(const std::string& stateDir) {
  return "swtpm:path=" + attest::SwtpmProcess::socketPath(stateDir);
}

DevSoftwareTpm::~DevSoftwareTpm() = default;

}  // namespace sealgate::appliance
