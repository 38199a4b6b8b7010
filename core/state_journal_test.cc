#include "core/state_journal.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <vector>

namespace sealgate::journal {
namespace {

Secret key32(std::uint8_t fill) {
  auto k = Secret::allocate(32);
  for (auto& b : k->exposeSecretBytesMutable()) b = fill;
  return std::move(*k);
}

struct Recorder : OpVisitor {
  std::vector<std::string> seen;
  void onU64(Op type, std::uint64_t v) override {
    seen.push_back("u64:" + std::to_string(type) + ":" + std::to_string(v));
  }
  void onJti(const std::array<std::uint8_t, 16>& k, std::int64_t e) override {
    seen.push_back("jti:" + std::to_string(k[0]) + ":" + std::to_string(e));
  }
  void onGrant(std::string id, std::uint32_t r, bool rev, std::int64_t e, std::uint8_t binding) override {
    seen.push_back("grant:" + id + ":" + std::to_string(r) + ":" + (rev ? "1" : "0") + ":" + std::to_string(e) +
                   (binding ? ":b" + std::to_string(binding) : ""));
  }
  void onLeasePut(std::string id, std::string d, std::int64_t e) override {
    seen.push_back("lease:" + id + ":" + d + ":" + std::to_string(e));
  }
  void onLeaseDel(std::string id) override { seen.push_back("del:" + id); }
  void onAuditHead(std::uint64_t size, const std::array<std::uint8_t, 32>& root) override {
    seen.push_back("audit:" + std::to_string(size) + ":" + std::to_string(root[0]) + ":" + std::to_string(root[31]));
  }
  void onRecordPut(std::string kind, std::string id, std::string d) override {
    seen.push_back("record:" + kind + ":" + id + ":" + d);
  }
  void onRecordDel(std::string kind, std::string id) override { seen.push_back("rdel:" + kind + ":" + id); }
};

const InstanceId kInstance{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

TEST(StateJournal, HeaderRoundTripAndRejects) {
  const std::string h = header(kInstance, 7);
  ASSERT_EQ(h.size(), kHeaderBytes);
  auto parsed = parseHeader(h + "rest");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->instance, kInstance);
  EXPECT_EQ(parsed->generation, 7u);
  EXPECT_EQ(parseHeader(h.substr(0, 39)).error().code, ErrorCode::StateTampered);
  std::string bad = h;
  bad[3] = 'x';
  EXPECT_EQ(parseHeader(bad).error().code, ErrorCode::StateTampered);
  EXPECT_FALSE(parseHeader(""));
  // Another format number: a downgrade (or a newer appliance's copy) is named as such.
  std::string newer = h;
  newer[7] = '2';
  EXPECT_EQ(parseHeader(newer).error().code, ErrorCode::StateFormatUnsupported);
  EXPECT_NE(parseHeader(newer).error().message.find("format 2"), std::string::npos);
  std::string notAFormat = h;
  notAFormat[7] = 'X';
  EXPECT_EQ(parseHeader(notAFormat).error().code, ErrorCode::StateTampered);
}

TEST(StateJournal, RecordsOpenOnlyWithTheirKeyHeaderAndSequence) {
  const Secret key = key32(0x11);
  const std::string h = header(kInstance, 1);
  std::array<std::uint8_t, 16> jti{};
  jti[0] = 42;
  std::array<std::uint8_t, 32> root{};
  root[0] = 7;
  root[31] = 9;
  const std::string ops = opU64(kOpOpen, 5) + opJti(jti, 1000) + opGrant("g1", 3, false, 2000) +
                          opLeasePut("l1", "{}", 3000) + opLeaseDel("l1") + opU64(kOpGrantsFrom, 9) +
                          opU64(kOpPrunedThrough, 11) + opAuditHead(12, root) +
                          opRecordPut("bg.request", "r1", R"({"a":1})") + opRecordDel("bg.request", "r1");
  const std::string rec = sealRecord(key, h, 0, ops);
  const Frame f = nextFrame(rec);
  ASSERT_EQ(f.kind, Frame::Kind::Record);
  EXPECT_EQ(f.size, rec.size());
  std::string out;
  ASSERT_TRUE(openRecord(key, h, 0, rec, f, out));
  EXPECT_EQ(out, ops);
  Recorder r;
  ASSERT_TRUE(decodeOps(out, r));
  EXPECT_EQ(r.seen, (std::vector<std::string>{"u64:1:5", "jti:42:1000", "grant:g1:3:0:2000", "lease:l1:{}:3000",
                                              "del:l1", "u64:7:9", "u64:8:11", "audit:12:7:9",
                                              R"(record:bg.request:r1:{"a":1})", "rdel:bg.request:r1"}));
  EXPECT_FALSE(openRecord(key, h, 1, rec, f, out));                     // another position
  EXPECT_FALSE(openRecord(key, header(kInstance, 2), 0, rec, f, out));  // another generation
  EXPECT_FALSE(openRecord(key32(0x12), h, 0, rec, f, out));             // another key
  std::string flipped = rec;
  flipped[rec.size() / 2] ^= 1;
  EXPECT_FALSE(openRecord(key, h, 0, flipped, nextFrame(flipped), out));
}

TEST(StateJournal, FramesTellTornFromCorrupt) {
  const Secret key = key32(0x22);
  const std::string rec = sealRecord(key, header(kInstance, 1), 0, opU64(kOpOpen, 1));
  EXPECT_EQ(nextFrame("").kind, Frame::Kind::End);
  for (std::size_t cut : {std::size_t{1}, std::size_t{7}, std::size_t{8}, rec.size() - 1}) {
    const Frame f = nextFrame(std::string_view(rec).substr(0, cut));
    EXPECT_EQ(f.kind, Frame::Kind::Torn) << cut;
    EXPECT_EQ(f.size, cut);
  }
  for (std::size_t at : {std::size_t{0}, std::size_t{2}, std::size_t{4}, std::size_t{7}}) {
    std::string bad = rec;
    bad[at] ^= 0x10;
    EXPECT_EQ(nextFrame(bad).kind, Frame::Kind::Corrupt) << at;
  }
  std::string tiny(8, '\0');  // length 0 with a matching complement
  tiny[4] = tiny[5] = tiny[6] = tiny[7] = '\xff';
  EXPECT_EQ(nextFrame(tiny).kind, Frame::Kind::Corrupt);
}

TEST(StateJournal, UndecodableOpsAreRefused) {
  Recorder r;
  EXPECT_FALSE(decodeOps(std::string(1, '\x2a'), r));  // unknown op
  const std::string head = opAuditHead(3, std::array<std::uint8_t, 32>{});
  EXPECT_FALSE(decodeOps(head.substr(0, head.size() - 1), r));       // truncated root
  EXPECT_FALSE(decodeOps(opU64(kOpCheckpoint, 1).substr(0, 5), r));  // truncated
  const std::string grant = opGrant("grant-id", 1, true, 5);
  EXPECT_FALSE(decodeOps(grant.substr(0, grant.size() - 1), r));
  std::string lying = opLeasePut("l", "data", 1);
  lying[4] = '\x7f';  // a data length far past the end
  EXPECT_FALSE(decodeOps(lying, r));
  const std::string record = opRecordPut("kind", "id", "{}");
  for (std::size_t cut = 1; cut < record.size(); ++cut) EXPECT_FALSE(decodeOps(record.substr(0, cut), r)) << cut;
  const std::string recordDel = opRecordDel("kind", "id");
  EXPECT_FALSE(decodeOps(recordDel.substr(0, recordDel.size() - 1), r));
  EXPECT_TRUE(r.seen.empty());
  EXPECT_TRUE(decodeOps("", r));
}

TEST(StateJournal, AGrantsFlagsCarryRevocationAndBinding) {
  Recorder r;
  ASSERT_TRUE(decodeOps(opGrant("m", 2, false, 9, 1) + opGrant("d", 1, true, 9, 2) + opGrant("old", 0, true, 9), r));
  EXPECT_EQ(r.seen, (std::vector<std::string>{"grant:m:2:0:9:b1", "grant:d:1:1:9:b2", "grant:old:0:1:9"}));
  // A journal written before the binding was recorded: flags 0 or 1 read as before.
  std::string legacy = opGrant("l", 4, false, 9);
  const std::size_t flagsAt = 1 + 2 + 1 + 4;  // op | u16 len | "l" | u32 remaining
  ASSERT_EQ(legacy[flagsAt], '\0');
  Recorder old;
  ASSERT_TRUE(decodeOps(legacy, old));
  EXPECT_EQ(old.seen, (std::vector<std::string>{"grant:l:4:0:9"}));
  // Bits no writer sets (binding 3, bits 3-7) make the op undecodable.
  for (char bad : {'\x06', '\x07', '\x08', '\x80'}) {
    std::string op = legacy;
    op[flagsAt] = bad;
    Recorder none;
    EXPECT_FALSE(decodeOps(op, none)) << static_cast<int>(bad);
    EXPECT_TRUE(none.seen.empty());
  }
}

}  // namespace
}  // namespace sealgate::journal
