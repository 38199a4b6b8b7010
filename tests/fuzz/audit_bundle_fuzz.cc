// libFuzzer target for the auditor's bundle verifier (core/audit_bundle.cc).
// Any input must give a verdict (never a crash or a hang); a bundle that
// verifies must have exactly as many entries and leaf hashes as its signed
// tree size, and an entry verdict must name an index inside the bundle.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/audit_bundle.h"
#include "core/encoding.h"
#include "tests/fuzz/fuzz_audit_key.h"

namespace {
void check(bool cond) {
  if (!cond) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const sealgate::Bytes spki = *sealgate::decodeHex(kFuzzAuditSpkiHex);
  sealgate::audit::VerifyOptions options;
  options.spkiDer = spki;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = sealgate::audit::verifyBundle(text, options);
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (r.ok()) {
    check(j.is_object() && j["entries"].size() == r->treeSize && j["leaf_hashes"].size() == r->treeSize);
  } else {
    check(!r.error().message.empty());
    if (r.error().operation == "entry") check(j.is_object() && r.error().native < j["entries"].size());
  }
  return 0;
}
