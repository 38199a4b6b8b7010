// DataKeySealer: wraps the data keys that encrypt sealed state, the KV store and
// the audit log, under the HSM's sealgate-kek (and the TPM's PCR policy when
// configured). One component does this for everyone.
#pragma once

#include <string>

#include "core/encoding.h"
#include "core/result.h"
#include "core/secret.h"

namespace sealgate {

class DataKeySealer {
 public:
  virtual ~DataKeySealer() = default;

  // Seals `dataKey`, binding `context` (e.g. "state/v1") as associated data.
  // Contract: the blob is useless without the HSM (and TPM); it is self-describing
  // (KEK label/version) so that rotation can unwrap old blobs.
  virtual Result<Bytes> seal(const Secret& dataKey, const std::string& context) = 0;

  // Unseals a blob made by seal() with the same `context`. Any tampering, wrong
  // context or unavailable key is an Error (callers fail closed).
  virtual Result<Secret> unseal(const Bytes& blob, const std::string& context) = 0;
};

}  // namespace sealgate
