#include "core/state_journal.h"

#include <sodium.h>

#include <cctype>
#include <cstring>

namespace sealgate::journal {
namespace {

constexpr char kMagic[8] = {'S', 'G', 'S', 'T', 'A', 'T', 'E', '1'};
static_assert(kNonceBytes == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kTagBytes == crypto_aead_xchacha20poly1305_ietf_ABYTES);

void putLe(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void putBe64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void putStr16(std::string& out, std::string_view s) {
  putLe(out, s.size(), 2);
  out.append(s);
}

// A bounds-checked cursor; any overrun clears `ok` and yields zeros/empties.
struct Reader {
  std::string_view in;
  bool ok = true;
  bool take(std::size_t n, std::string_view& out) {
    if (!ok || in.size() < n) return ok = false;
    out = in.substr(0, n);
    in.remove_prefix(n);
    return true;
  }
  std::uint64_t le(int bytes) {
    std::string_view s;
    if (!take(static_cast<std::size_t>(bytes), s)) return 0;
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(s[static_cast<std::size_t>(i)]);
    return v;
  }
  std::string str(int lengthBytes) {
    const auto n = static_cast<std::size_t>(le(lengthBytes));
    std::string_view s;
    if (!take(n, s)) return {};
    return std::string(s);
  }
};

std::string aadOf(std::string_view hdr, std::uint64_t seq) {
  std::string aad(hdr);
  putBe64(aad, seq);
  return aad;
}

}  // namespace

std::string header(const InstanceId& instance, std::uint64_t generation) {
  std::string h(kMagic, sizeof kMagic);
  h.append(reinterpret_cast<const char*>(instance.data()), instance.size());
  putBe64(h, generation);
  h.append(8, '\0');
  return h;
}

Result<Header> parseHeader(std::string_view file) {
  // Another format number is another sealgate version's journal (a downgrade, or
  // a copy from a newer appliance): refused by name, never read as this format.
  constexpr std::size_t kFormatAt = sizeof kMagic - 1;
  if (file.size() >= kHeaderBytes && std::memcmp(file.data(), kMagic, kFormatAt) == 0 &&
      file[kFormatAt] != kMagic[kFormatAt] && std::isdigit(static_cast<unsigned char>(file[kFormatAt]))) {
    return makeError(ErrorCode::StateFormatUnsupported,
                     std::string("the state journal is in format ") + file[kFormatAt] +
                         " (written by another sealgate version); this version reads format " + kMagic[kFormatAt]);
  }
  if (file.size() < kHeaderBytes || std::memcmp(file.data(), kMagic, sizeof kMagic) != 0) {
    return makeError(ErrorCode::StateTampered, "the state journal has no valid header");
  }
  Header h;
  std::memcpy(h.instance.data(), file.data() + 8, 16);
  for (int i = 0; i < 8; ++i)
    h.generation = (h.generation << 8) | static_cast<std::uint8_t>(file[24 + static_cast<std::size_t>(i)]);
  return h;
}

std::string sealRecord(const Secret& key, std::string_view hdr, std::uint64_t seq, std::string_view ops) {
  const std::size_t len = kNonceBytes + ops.size() + kTagBytes;
  std::string out;
  out.reserve(kFrameBytes + len);
  putLe(out, static_cast<std::uint32_t>(len), 4);
  putLe(out, ~static_cast<std::uint32_t>(len), 4);
  std::uint8_t nonce[kNonceBytes];
  randombytes_buf(nonce, sizeof nonce);  // random 192-bit nonces: never reused under one key
  out.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
  const std::size_t at = out.size();
  out.resize(at + ops.size() + kTagBytes);
  const std::string aad = aadOf(hdr, seq);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(reinterpret_cast<unsigned char*>(out.data() + at), &clen,
                                             reinterpret_cast<const unsigned char*>(ops.data()), ops.size(),
                                             reinterpret_cast<const unsigned char*>(aad.data()), aad.size(), nullptr,
                                             nonce, key.exposeSecretBytes().data());
  return out;
}

Frame nextFrame(std::string_view rest) {
  if (rest.empty()) return {Frame::Kind::End, 0};
  Reader r{rest.substr(0, std::min(rest.size(), kFrameBytes))};
  const auto len = static_cast<std::uint32_t>(r.le(4));
  const auto notLen = static_cast<std::uint32_t>(r.le(4));
  if (!r.ok) return {Frame::Kind::Torn, rest.size()};  // fewer than 8 bytes: a frame cut short
  if (notLen != ~len || len < kNonceBytes + kTagBytes + 1 || len > kMaxRecordBytes) return {Frame::Kind::Corrupt, 0};
  if (rest.size() < kFrameBytes + len) return {Frame::Kind::Torn, rest.size()};
  return {Frame::Kind::Record, kFrameBytes + len};
}

bool openRecord(const Secret& key, std::string_view hdr, std::uint64_t seq, std::string_view rest, const Frame& frame,
                std::string& ops) {
  if (frame.kind != Frame::Kind::Record || frame.size > rest.size() || key.size() != 32) return false;
  const auto* nonce = reinterpret_cast<const unsigned char*>(rest.data() + kFrameBytes);
  const auto* ct = nonce + kNonceBytes;
  const std::size_t ctLen = frame.size - kFrameBytes - kNonceBytes;
  ops.resize(ctLen - kTagBytes);
  const std::string aad = aadOf(hdr, seq);
  unsigned long long plen = 0;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(ops.data()), &plen, nullptr, ct,
                                                    ctLen, reinterpret_cast<const unsigned char*>(aad.data()),
                                                    aad.size(), nonce, key.exposeSecretBytes().data()) == 0;
}

std::string opU64(Op type, std::uint64_t value) {
  std::string op(1, static_cast<char>(type));
  putLe(op, value, 8);
  return op;
}

std::string opJti(const std::array<std::uint8_t, 16>& key, std::int64_t expMs) {
  std::string op(1, static_cast<char>(kOpJti));
  op.append(reinterpret_cast<const char*>(key.data()), key.size());
  putLe(op, static_cast<std::uint64_t>(expMs), 8);
  return op;
}

std::string opGrant(std::string_view id, std::uint32_t remaining, bool revoked, std::int64_t expMs,
                    std::uint8_t binding) {
  std::string op(1, static_cast<char>(kOpGrant));
  putStr16(op, id);
  putLe(op, remaining, 4);
  op.push_back(static_cast<char>((revoked ? kGrantFlagRevoked : 0) | ((binding & 3u) << kGrantBindingShift)));
  putLe(op, static_cast<std::uint64_t>(expMs), 8);
  return op;
}

std::string opLeasePut(std::string_view id, std::string_view data, std::int64_t expMs) {
  std::string op(1, static_cast<char>(kOpLeasePut));
  putStr16(op, id);
  putLe(op, data.size(), 4);
  op.append(data);
  putLe(op, static_cast<std::uint64_t>(expMs), 8);
  return op;
}

std::string opLeaseDel(std::string_view id) {
  std::string op(1, static_cast<char>(kOpLeaseDel));
  putStr16(op, id);
  return op;
}

std::string opAuditHead(std::uint64_t size, const std::array<std::uint8_t, 32>& root) {
  std::string op(1, static_cast<char>(kOpAuditHead));
  putLe(op, size, 8);
  op.append(reinterpret_cast<const char*>(root.data()), root.size());
  return op;
}

std::string opRecordPut(std::string_view kind, std::string_view id, std::string_view data) {
  std::string op(1, static_cast<char>(kOpRecordPut));
  putStr16(op, kind);
  putStr16(op, id);
  putLe(op, data.size(), 4);
  op.append(data);
  return op;
}

std::string opRecordDel(std::string_view kind, std::string_view id) {
  std::string op(1, static_cast<char>(kOpRecordDel));
  putStr16(op, kind);
  putStr16(op, id);
  return op;
}

bool decodeOps(std::string_view ops, OpVisitor& visitor) {
  Reader r{ops};
  while (r.ok && !r.in.empty()) {
    const auto type = static_cast<Op>(r.le(1));
    switch (type) {
      case kOpOpen:
      case kOpCheckpoint:
      case kOpGrantsFrom:
      case kOpPrunedThrough: {
        const std::uint64_t v = r.le(8);
        if (r.ok) visitor.onU64(type, v);
        break;
      }
      case kOpJti: {
        std::string_view raw;
        std::array<std::uint8_t, 16> key{};
        if (r.take(16, raw)) std::memcpy(key.data(), raw.data(), 16);
        const auto exp = static_cast<std::int64_t>(r.le(8));
        if (r.ok) visitor.onJti(key, exp);
        break;
      }
      case kOpGrant: {
        std::string id = r.str(2);
        const auto remaining = static_cast<std::uint32_t>(r.le(4));
        const auto flags = static_cast<std::uint8_t>(r.le(1));
        const auto exp = static_cast<std::int64_t>(r.le(8));
        if ((flags & ~kGrantFlagsKnown) != 0 || (flags >> kGrantBindingShift) == 3) r.ok = false;
        if (r.ok) {
          visitor.onGrant(std::move(id), remaining, (flags & kGrantFlagRevoked) != 0, exp,
                          static_cast<std::uint8_t>(flags >> kGrantBindingShift));
        }
        break;
      }
      case kOpLeasePut: {
        std::string id = r.str(2);
        std::string data = r.str(4);
        const auto exp = static_cast<std::int64_t>(r.le(8));
        if (r.ok) visitor.onLeasePut(std::move(id), std::move(data), exp);
        break;
      }
      case kOpLeaseDel: {
        std::string id = r.str(2);
        if (r.ok) visitor.onLeaseDel(std::move(id));
        break;
      }
      case kOpAuditHead: {
        const std::uint64_t size = r.le(8);
        std::string_view raw;
        std::array<std::uint8_t, 32> root{};
        if (r.take(32, raw)) std::memcpy(root.data(), raw.data(), 32);
        if (r.ok) visitor.onAuditHead(size, root);
        break;
      }
      case kOpRecordPut: {
        std::string kind = r.str(2);
        std::string id = r.str(2);
        std::string data = r.str(4);
        if (r.ok) visitor.onRecordPut(std::move(kind), std::move(id), std::move(data));
        break;
      }
      case kOpRecordDel: {
        std::string kind = r.str(2);
        std::string id = r.str(2);
        if (r.ok) visitor.onRecordDel(std::move(kind), std::move(id));
        break;
      }
      default:
        return false;
    }
  }
  return r.ok;
}

}  // namespace sealgate::journal
