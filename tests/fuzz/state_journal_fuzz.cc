// The sealed state's journal format (core/state_journal.h): the frame parser,
// record authentication and the operation decoder must stay in bounds and
// refuse, never crash, on any bytes; and any non-empty bytes sealed as a record
// must open to themselves.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/state_journal.h"

namespace {

using namespace sealgate::journal;

struct Count : OpVisitor {
  std::size_t n = 0;
  void onU64(Op, std::uint64_t) override { ++n; }
  void onAuditHead(std::uint64_t, const std::array<std::uint8_t, 32>&) override { ++n; }
  void onJti(const std::array<std::uint8_t, 16>&, std::int64_t) override { ++n; }
  void onGrant(std::string, std::uint32_t, bool, std::int64_t, std::uint8_t binding) override {
    if (binding > 2) __builtin_trap();  // the decoder refuses any other value
    ++n;
  }
  void onLeasePut(std::string, std::string, std::int64_t) override { ++n; }
  void onLeaseDel(std::string) override { ++n; }
  void onRecordPut(std::string, std::string, std::string) override { ++n; }
  void onRecordDel(std::string, std::string) override { ++n; }
};

const sealgate::Secret& fixedKey() {
  static sealgate::Secret key = [] {
    auto k = sealgate::Secret::allocate(32);
    for (auto& b : k->exposeSecretBytesMutable()) b = 0x5a;
    return std::move(*k);
  }();
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Count count;
  decodeOps(input, count);

  // As a whole journal file.
  if (auto hdr = parseHeader(input); hdr.ok()) {
    const std::string_view header = input.substr(0, kHeaderBytes);
    std::size_t at = kHeaderBytes;
    std::string ops;
    for (std::uint64_t seq = 0;; ++seq) {
      const std::string_view rest = input.substr(at);
      const Frame f = nextFrame(rest);
      if (f.kind != Frame::Kind::Record) break;
      if (f.size > rest.size() || f.size < kFrameBytes + kNonceBytes + kTagBytes) __builtin_trap();
      if (openRecord(fixedKey(), header, seq, rest, f, ops)) decodeOps(ops, count);
      at += f.size;
    }
  }

  // Any (non-empty: a batch holds at least one op) bytes sealed as a record open
  // to themselves, and only at their place.
  if (input.empty()) return 0;
  const std::string hdr = header(InstanceId{}, 1);
  const std::string rec = sealRecord(fixedKey(), hdr, 3, input);
  const Frame f = nextFrame(rec);
  std::string back;
  if (f.kind != Frame::Kind::Record || f.size != rec.size()) __builtin_trap();
  if (!openRecord(fixedKey(), hdr, 3, rec, f, back) || back != input) __builtin_trap();
  if (openRecord(fixedKey(), hdr, 4, rec, f, back)) __builtin_trap();
  return 0;
}
