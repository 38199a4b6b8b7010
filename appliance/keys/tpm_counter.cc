#include "appliance/keys/tpm_counter.h"

#include <cstdio>

namespace sealgate::appliance {

Result<std::unique_ptr<TpmNvCounter>> TpmNvCounter::attach(attest::Tpm& tpm, std::uint32_t nvIndex, const Secret& auth,
                                                           bool define) {
  SEALGATE_ASSIGN_OR_RETURN(auto copy, Secret::copyFrom(auth.exposeSecretBytes()));
  if (define) {
    if (tpm.counterDefined(nvIndex)) SEALGATE_TRY(tpm.undefineCounter(nvIndex));
    SEALGATE_TRY(tpm.defineCounter(nvIndex, auth));
  }
  return std::unique_ptr<TpmNvCounter>(new TpmNvCounter(tpm, nvIndex, std::move(copy)));
}

Result<std::uint64_t> TpmNvCounter::read() { return tpm_.readCounter(index_, auth_); }
Result<std::uint64_t> TpmNvCounter::increment() { return tpm_.incrementCounter(index_, auth_); }

std::string TpmNvCounter::describe() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "tpm-nv:0x%08x", index_);
  return buf;
}

CounterFactory tpmCounterFactory(attest::Tpm& tpm, std::uint32_t nvIndex) {
  return [&tpm, nvIndex](const Secret& auth, bool define) -> Result<std::unique_ptr<MonotonicCounter>> {
    SEALGATE_ASSIGN_OR_RETURN(auto c, TpmNvCounter::attach(tpm, nvIndex, auth, define));
    return std::unique_ptr<MonotonicCounter>(std::move(c));
  };
}

}  // namespace sealgate::appliance
