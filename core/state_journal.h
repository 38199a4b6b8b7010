// The sealed state's journal format (docs/STATE.md), apart from any I/O, so that
// its parsers can be fuzzed (tests/fuzz/state_journal_fuzz.cc).
//
//   file    = header record*
//   header  = "SGSTATE1" | instance id (16) | generation (u64 BE) | reserved (8 zero)
//             (the last magic byte is the format number: another digit is
//             STATE_FORMAT_UNSUPPORTED, anything else STATE_TAMPERED)
//   record  = u32 length LE | u32 ~length LE | nonce (24) | XChaCha20-Poly1305(ops)
//             with AAD = header | sequence number (u64 BE)
//   ops     = op*  (see Op)
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/secret.h"

namespace sealgate::journal {

inline constexpr std::size_t kHeaderBytes = 40;
inline constexpr std::size_t kFrameBytes = 8;
inline constexpr std::size_t kNonceBytes = 24;
inline constexpr std::size_t kTagBytes = 16;
inline constexpr std::size_t kMaxRecordBytes = 64u << 20;

using InstanceId = std::array<std::uint8_t, 16>;

std::string header(const InstanceId& instance, std::uint64_t generation);

struct Header {
  InstanceId instance{};
  std::uint64_t generation = 0;
};
// STATE_TAMPERED when `file` does not start with a valid header.
Result<Header> parseHeader(std::string_view file);

// Seals `ops` as record number `seq` of the file whose header is `hdr`.
std::string sealRecord(const Secret& key, std::string_view hdr, std::uint64_t seq, std::string_view ops);

struct Frame {
  enum class Kind {
    Record,   // a complete record of `size` bytes
    End,      // nothing left
    Torn,     // an incomplete final record: what a crash during an append leaves
    Corrupt,  // a length that fails its check or is out of range
  } kind = Kind::End;
  std::size_t size = 0;  // bytes of the whole record, frame included
};
// Looks at the record at the start of `rest` (the file after the header and the
// records before it).
Frame nextFrame(std::string_view rest);
// Decrypts the complete record at the start of `rest` into `ops`; false when it
// fails authentication (modified, moved, or from another file or key).
bool openRecord(const Secret& key, std::string_view hdr, std::uint64_t seq, std::string_view rest, const Frame& frame,
                std::string& ops);

// The operations a record carries.
enum Op : std::uint8_t {
  kOpOpen = 1,           // u64 checkpoint: the first op of every file
  kOpJti = 2,            // 16-byte keyed hash | i64 expiry ms
  kOpGrant = 3,          // u16 len | id | u32 remaining | u8 flags | i64 expiry ms (flags: kGrantFlag*)
  kOpLeasePut = 4,       // u16 len | id | u32 len | data | i64 expiry ms
  kOpLeaseDel = 5,       // u16 len | id
  kOpCheckpoint = 6,     // u64 checkpoint
  kOpGrantsFrom = 7,     // i64 ms: grants issued before are refused
  kOpPrunedThrough = 8,  // i64 ms: the pruning horizon (entries expiring by then may be gone)
  kOpAuditHead = 9,      // u64 size | 32-byte root: the audit log's durable tree head
  kOpRecordPut = 10,     // u16 len | kind | u16 len | id | u32 len | data
  kOpRecordDel = 11,     // u16 len | kind | u16 len | id
};

std::string opU64(Op type, std::uint64_t value);
std::string opJti(const std::array<std::uint8_t, 16>& key, std::int64_t expMs);
// A grant op's flags byte: bit 0 revoked; bits 1-2 the grant's binding
// (StateStore::GrantBinding: 0 unknown, 1 mTLS, 2 DPoP). Journals written before
// the binding was recorded hold 0 or 1. Any other bit makes the op malformed. (A
// binary older than the binding bits reads a recorded binding as "revoked": it
// fails closed.)
constexpr std::uint8_t kGrantFlagRevoked = 1;
constexpr unsigned kGrantBindingShift = 1;
constexpr std::uint8_t kGrantFlagsKnown = 0x07;

std::string opGrant(std::string_view id, std::uint32_t remaining, bool revoked, std::int64_t expMs,
                    std::uint8_t binding = 0);
std::string opLeasePut(std::string_view id, std::string_view data, std::int64_t expMs);
std::string opLeaseDel(std::string_view id);
std::string opAuditHead(std::uint64_t size, const std::array<std::uint8_t, 32>& root);
std::string opRecordPut(std::string_view kind, std::string_view id, std::string_view data);
std::string opRecordDel(std::string_view kind, std::string_view id);

// Receives decoded operations in order.
class OpVisitor {
 public:
  virtual ~OpVisitor() = default;
  virtual void onU64(Op type, std::uint64_t value) = 0;  // open, checkpoint, grants-from, pruned-through
  virtual void onJti(const std::array<std::uint8_t, 16>& key, std::int64_t expMs) = 0;
  virtual void onGrant(std::string id, std::uint32_t remaining, bool revoked, std::int64_t expMs,
                       std::uint8_t binding) = 0;
  virtual void onLeasePut(std::string id, std::string data, std::int64_t expMs) = 0;
  virtual void onLeaseDel(std::string id) = 0;
  virtual void onAuditHead(std::uint64_t size, const std::array<std::uint8_t, 32>& root) = 0;
  virtual void onRecordPut(std::string kind, std::string id, std::string data) = 0;
  virtual void onRecordDel(std::string kind, std::string id) = 0;
};
// Decodes every op of `ops`; false (after visiting the ops before it) at the
// first unknown or truncated op.
bool decodeOps(std::string_view ops, OpVisitor& visitor);

}  // namespace sealgate::journal
