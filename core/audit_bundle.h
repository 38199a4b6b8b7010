// The auditor's export bundle (docs/AUDIT.md) and its offline verification.
//
// A bundle is one JSON object:
//   format       "sealgate.audit.bundle/1"
//   origin       the log's origin (the appliance's name; also the key name)
//   checkpoint   the C2SP signed note for tree_size entries
//   entries      [string]  every entry, index 0..tree_size-1, its exact bytes
//   leaf_hashes  [base64]  RFC 6962 leaf hash of each entry, as the log recorded it
//   checkpoints  [{size, note}] earlier checkpoints the log signed (oldest first)
//   proofs       {consistency: [{first, second, proof: [base64]}],
//                 inclusion:   [{index, tree_size, proof: [base64]}]}
//
// Verification trusts only the pinned key: the signed root authenticates the
// leaf hashes (by position), and each entry must hash to its leaf, so the first
// entry that differs is named exactly.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/encoding.h"
#include "core/merkle.h"
#include "core/result.h"

namespace sealgate::audit {

inline constexpr const char* kBundleFormat = "sealgate.audit.bundle/1";

struct VerifyOptions {
  std::string keyName;  // empty: the bundle's origin
  Bytes spkiDer;        // the pinned P-256 key (never taken from the bundle)
  // More pinned keys: the audit key's other versions, for a log that spans a key
  // rotation (docs/AUDIT.md, "Key rotation"). A checkpoint signed by any pinned
  // key verifies.
  std::vector<Bytes> moreKeys;
  // Called now and then with (entries checked, total).
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct VerifyReport {
  std::uint64_t treeSize = 0;
  merkle::Hash root{};
  std::size_t checkpoints = 0;  // signed checkpoints checked (including the final one)
  std::size_t proofs = 0;       // inclusion and consistency proofs checked
};

// On failure the Error's code says what failed (BUNDLE_CORRUPT, NOTE_INVALID,
// CHECKPOINT_INVALID, SIGNATURE_INVALID, NOTE_UNSIGNED, ENTRY_MISMATCH,
// TREE_MISMATCH, PROOF_INVALID, KEY_INVALID); for an entry, `native` holds its
// index and the message names it.
Result<VerifyReport> verifyBundle(std::string_view bundleJson, const VerifyOptions& options);

}  // namespace sealgate::audit
