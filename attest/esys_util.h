// Internal to attest/: what tpm.cc and approver_device.cc share about ESAPI:
// opening a context, freeing ESAPI's outputs, flushing transient objects and
// sessions, PCR selections.
#pragma once

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace sealgate::attest::detail {

template <typename T>
struct EsysFree {
  void operator()(T* p) const { Esys_Free(p); }
};
// Owns what an Esys_* call allocated for its outputs.
template <typename T>
using EsysPtr = std::unique_ptr<T, EsysFree<T>>;

// Flushes a transient object or session when it goes out of scope: swtpm has
// no resource manager and only three transient slots (docs/DEVELOPMENT.md, "TPM transient slots").
struct Flush {
  ESYS_CONTEXT* esys;
  ESYS_TR handle = ESYS_TR_NONE;
  ~Flush() {
    if (handle != ESYS_TR_NONE) Esys_FlushContext(esys, handle);
  }
};

// Closes the ESYS_TR of a persistent object or NV index (which stays in the TPM).
struct CloseTr {
  ESYS_CONTEXT* esys;
  ESYS_TR handle = ESYS_TR_NONE;
  ~CloseTr() {
    if (handle != ESYS_TR_NONE) Esys_TR_Close(esys, &handle);
  }
};

// A TCTI and an ESAPI context over it, finalized in that order's reverse.
struct EsysConnection {
  TSS2_TCTI_CONTEXT* tcti = nullptr;
  ESYS_CONTEXT* esys = nullptr;
  EsysConnection() = default;
  EsysConnection(const EsysConnection&) = delete;
  EsysConnection& operator=(const EsysConnection&) = delete;
  ~EsysConnection() {
    if (esys) Esys_Finalize(&esys);
    if (tcti) Tss2_TctiLdr_Finalize(&tcti);
  }
  // Connects through `tcti` (tpm2-tss TCTI loader syntax) and makes one cheap
  // round trip, so that a TCTI pointing at nothing fails here
  // (TPM_UNAVAILABLE). Sends no TPM2_Startup.
  Result<void> open(const std::string& tcti);
};

// The SHA-256 bank selection of `pcrs` (0..23; sizeofSelect 3).
TPML_PCR_SELECTION pcrSelection(const std::vector<unsigned>& pcrs);
// At least one PCR, each 0..23; else TPM_BAD_INPUT.
Result<void> checkPcrs(const std::vector<unsigned>& pcrs);

}  // namespace sealgate::attest::detail
