// Reading the token's user PIN from a 0600 file or an environment variable.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "core/unique_fd.h"
#include "core/wipe.h"
#include "hsm/key_store.h"

namespace sealgate::hsm {
namespace {

constexpr std::size_t kMaxPinFileBytes = 4096;

Result<Secret> readPinEnv(const std::string& var) {
  const char* value = std::getenv(var.c_str());
  if (value == nullptr || *value == '\0')
    return makeError(hsm_errc::kPin, "PIN environment variable " + var + " is not set");
  return Secret::copyFrom(std::string_view(value));
}

// The permission check and the read are on the same open file, so the file
// cannot be swapped between them.
Result<Secret> readPinFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) return makeError(hsm_errc::kPin, "cannot stat PIN file " + path);
  if ((st.st_mode & 077) != 0) {
    return makeError(hsm_errc::kPin, "PIN file " + path + " must not be readable by group or others (chmod 600)");
  }
  auto pin = Secret::allocate(kMaxPinFileBytes);
  if (!pin) return pin;
  auto buf = pin->exposeSecretBytesMutable();
  std::size_t n = 0;
  while (n < buf.size()) {
    const ssize_t r = ::read(fd.get(), buf.data() + n, buf.size() - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return makeError(hsm_errc::kPin, "cannot read PIN file " + path);
    if (r == 0) break;
    n += static_cast<std::size_t>(r);
  }
  if (n == buf.size()) return makeError(hsm_errc::kPin, "PIN file " + path + " is too large");
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) --n;
  pin->truncate(n);
  if (pin->empty()) return makeError(hsm_errc::kPin, "PIN file " + path + " is empty");
  return pin;
}

}  // namespace

Result<Secret> readPin(const PinSource& source) {
  if (!source.file.empty() && !source.envVar.empty()) {
    return makeError(hsm_errc::kPin, "configure either a PIN file or a PIN environment variable, not both");
  }
  if (!source.envVar.empty()) return readPinEnv(source.envVar);
  if (source.file.empty()) return makeError(hsm_errc::kPin, "no PIN source configured");
  return readPinFile(source.file);
}

}  // namespace sealgate::hsm
