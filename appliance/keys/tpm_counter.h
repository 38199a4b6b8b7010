// The sealed state's rollback anchor: a TPM NV monotonic counter.
#pragma once

#include <cstdint>
#include <memory>

#include "appliance/state/sealed_state_store.h"
#include "attest/tpm.h"

namespace sealgate::appliance {

class TpmNvCounter : public MonotonicCounter {
 public:
  // `define`: (re)creates the index with `auth` (first initialisation only; a
  // redefined counter continues from the highest value it ever held).
  static Result<std::unique_ptr<TpmNvCounter>> attach(attest::Tpm& tpm, std::uint32_t nvIndex, const Secret& auth,
                                                      bool define);
  Result<std::uint64_t> read() override;
  Result<std::uint64_t> increment() override;
  std::string describe() const override;

 private:
  TpmNvCounter(attest::Tpm& tpm, std::uint32_t nvIndex, Secret auth)
      : tpm_(tpm), index_(nvIndex), auth_(std::move(auth)) {}
  attest::Tpm& tpm_;
  std::uint32_t index_;
  Secret auth_;
};

// The CounterFactory for SealedStateStore over `tpm` (which must outlive it).
CounterFactory tpmCounterFactory(attest::Tpm& tpm, std::uint32_t nvIndex);

}  // namespace sealgate::appliance
