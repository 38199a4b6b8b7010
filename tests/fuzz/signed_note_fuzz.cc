// libFuzzer target for C2SP signed notes and checkpoints (core/signed_note.cc).
// A note that parses re-formats to exactly the same bytes (no ambiguity in what
// was signed); a checkpoint that parses re-formats to its first three lines;
// verification with the pinned key never crashes and accepts only what the
// pinned key signed (the seeds are the only such notes).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/encoding.h"
#include "core/signed_note.h"
#include "tests/fuzz/fuzz_audit_key.h"

namespace {
void check(bool cond) {
  if (!cond) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sealgate;
  static const Bytes spki = *decodeHex(kFuzzAuditSpkiHex);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto n = note::parseNote(text);
  if (n.ok()) {
    check(note::formatNote(n->text, n->signatures) == text);
    check(n->signatures.size() >= 1 && n->signatures.size() <= note::kMaxSignatures);
    auto v = note::verifyEcdsa(*n, "sealgate", spki);
    if (!v.ok()) check(v.error().code == ErrorCode::NoteUnsigned || v.error().code == ErrorCode::SignatureInvalid);
    auto cp = note::parseCheckpoint(n->text);
    if (cp.ok()) {
      const std::string body = note::formatCheckpoint(*cp);
      check(n->text.compare(0, body.size(), body) == 0);
    }
  }
  auto cp = note::parseCheckpoint(text);
  if (cp.ok()) check(text.substr(0, note::formatCheckpoint(*cp).size()) == note::formatCheckpoint(*cp));
  if (auto b = note::decodeBase64Std(text)) check(base64Std(*b) == text);
  return 0;
}
