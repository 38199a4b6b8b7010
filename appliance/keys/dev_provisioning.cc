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

namespace {

// One shell word: as is when it is made of [A-Za-z0-9/._,=:+-] only, else in single quotes.
std::string shellWord(const std::string& s) {
  const bool plain = !s.empty() && s.find_first_not_of(
                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789/._,=:+-") == std::string::npos;
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string DevSoftwareTpm::startCommand(const std::string& stateDir) {
  const std::string sock = attest::SwtpmProcess::socketPath(stateDir);
  return "swtpm socket --tpm2 --server " + shellWord("type=unixio,path=" + sock) + " --ctrl " +
         shellWord("type=unixio,path=" + sock + ".ctrl") + " --tpmstate " + shellWord("dir=" + stateDir) +
         " --flags startup-clear --daemon --pid " + shellWord("file=" + stateDir + "/swtpm.pid");
}

Result<std::string> manufactureDevTpms(const std::string& caDir, const std::vector<std::string>& stateDirs) {
  SEALGATE_ASSIGN_OR_RETURN(auto ca, attest::SwtpmLocalCa::create(caDir));
  for (const auto& dir : stateDirs) SEALGATE_TRY(ca.manufacture(dir));
  return ca.writeBundle();
}

DevSoftwareTpm::~DevSoftwareTpm() = default;

}  // namespace sealgate::appliance
