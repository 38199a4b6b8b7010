#include "tests/support/temp_token.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <utility>

namespace sealgate::testing {
namespace {

// Heap-allocated and never freed: the atexit handler runs after static
// destructors of objects constructed before it was registered.
const std::string* gScratch = nullptr;

void removeScratch() {
  std::error_code ec;
  if (gScratch != nullptr) std::filesystem::remove_all(*gScratch, ec);
}

const std::string* makeScratch() {
  char tmpl[] = "/tmp/sealgate-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  std::string dir = tmpl;
  std::filesystem::create_directories(dir + "/tokens");
  std::ofstream(dir + "/softhsm2.conf") << "directories.tokendir = " << dir << "/tokens\n"
                                        << "objectstore.backend = file\n"
                                        << "log.level = ERROR\n"
                                        << "slots.removable = false\n";
  setenv("SOFTHSM2_CONF", (dir + "/softhsm2.conf").c_str(), 1);
  gScratch = new std::string(dir);
  std::atexit(removeScratch);
  return gScratch;
}

}  // namespace

const std::string& scratchDir() {
  static const std::string* dir = makeScratch();
  return *dir;
}

hsm::KeyStoreConfig createToken(const std::string& label) {
  const std::string pinFile = scratchDir() + "/" + label + ".pin";
  {
    std::ofstream(pinFile) << "user-pin-" << label << "\n";
    chmod(pinFile.c_str(), 0600);
  }
  auto so = Secret::copyFrom(std::string_view("so-pin-5678"));
  auto user = Secret::copyFrom("user-pin-" + label);
  auto r = hsm::initializeToken(kSoftHsmModule, label, *so, *user);
  if (!r) throw std::runtime_error("initializeToken: " + r.error().describe());
  hsm::KeyStoreConfig cfg;
  cfg.modulePath = kSoftHsmModule;
  cfg.tokenLabel = label;
  cfg.pin.file = pinFile;
  return cfg;
}

std::unique_ptr<hsm::KeyStore> openFreshToken(const std::string& label) {
  auto ks = hsm::KeyStore::open(createToken(label));
  if (!ks) {
    std::fprintf(stderr, "cannot open test token: %s\n", ks.error().describe().c_str());
    std::abort();
  }
  return std::move(*ks);
}

Result<hsm::Pkcs11Session> openRawSession(const hsm::KeyStore& store) {
  auto module = hsm::Pkcs11Module::load(store.config().modulePath);
  if (!module) return std::move(module).takeError();
  auto slot = (*module)->findToken(store.config().tokenLabel);
  if (!slot) return std::move(slot).takeError();
  return hsm::Pkcs11Session::open(store.functions(), *slot);
}

}  // namespace sealgate::testing
