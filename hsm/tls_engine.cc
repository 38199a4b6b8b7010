#include "hsm/tls_engine.h"

#include <openssl/err.h>

#include <mutex>

namespace sealgate::hsm {
namespace {

std::string opensslErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

// RFC 7512 path attributes may hold only these characters unescaped.
std::string pctEncode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Pkcs11Engine>> Pkcs11Engine::load(const std::string& modulePath, const Secret& pin) {
  static std::once_flag builtins;
  std::call_once(builtins, [] { ENGINE_load_builtin_engines(); });
  std::unique_ptr<Pkcs11Engine> eng(new Pkcs11Engine());
  eng->engine_ = ENGINE_by_id("pkcs11");
  if (eng->engine_ == nullptr) {
    return makeError(ErrorCode::HsmEngine,
                     "the OpenSSL pkcs11 engine is not installed (libengine-pkcs11-openssl): " + opensslErrors());
  }
  // MODULE_PATH is required, else libp11 falls back to p11-kit-proxy.
  if (ENGINE_ctrl_cmd_string(eng->engine_, "MODULE_PATH", modulePath.c_str(), 0) != 1) {
    ENGINE_free(eng->engine_);
    eng->engine_ = nullptr;
    return makeError(ErrorCode::HsmEngine, "pkcs11 engine rejected MODULE_PATH: " + opensslErrors());
  }
  auto z = Secret::allocate(pin.size() + 1);  // NUL-terminated copy for the ctrl
  if (!z) return std::move(z).takeError();
  std::copy(pin.exposeSecretBytes().begin(), pin.exposeSecretBytes().end(), z->exposeSecretBytesMutable().begin());
  const bool pinOk =
      ENGINE_ctrl_cmd_string(eng->engine_, "PIN", reinterpret_cast<const char*>(z->exposeSecretBytes().data()), 0) == 1;
  if (!pinOk || ENGINE_init(eng->engine_) != 1) {
    ENGINE_free(eng->engine_);
    eng->engine_ = nullptr;
    return makeError(ErrorCode::HsmEngine, "pkcs11 engine failed to initialise: " + opensslErrors());
  }
  return eng;
}

Pkcs11Engine::~Pkcs11Engine() {
  if (engine_ != nullptr) {
    ENGINE_finish(engine_);
    ENGINE_free(engine_);
  }
}

Result<EvpPkeyPtr> Pkcs11Engine::privateKey(const std::string& tokenLabel, const std::string& keyLabel) {
  // The PIN was given through the ctrl: the URI carries none, so it can be logged.
  const std::string uri = "pkcs11:token=" + pctEncode(tokenLabel) + ";object=" + pctEncode(keyLabel) + ";type=private";
  EVP_PKEY* key = ENGINE_load_private_key(engine_, uri.c_str(), nullptr, nullptr);
  if (key == nullptr) {
    return makeError(ErrorCode::HsmKeyNotFound, "pkcs11 engine cannot load " + uri + ": " + opensslErrors());
  }
  return EvpPkeyPtr(key);
}

}  // namespace sealgate::hsm
