#include "bench/audit_jsonl.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace sealgate::appliance {
namespace {

std::string tempFile() {
  char tmpl[] = "/tmp/sealgate-audit-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  return dir + "/events.jsonl";
}

TEST(JsonLinesAuditSink, AppendsDurableLinesWithIncreasingIdsAcrossReopen) {
  const std::string path = tempFile();
  {
    auto sink = JsonLinesAuditSink::open(path);
    ASSERT_TRUE(sink.ok()) << sink.error().describe();
    EXPECT_EQ(*(*sink)->append(R"({"type":"a"})"), 0u);
    EXPECT_EQ(*(*sink)->append(R"({"type":"b"})"), 1u);
    EXPECT_TRUE((*sink)->healthy());
  }
  auto again = JsonLinesAuditSink::open(path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*(*again)->append(R"({"type":"c"})"), 2u);
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    EXPECT_TRUE(nlohmann::json::accept(line)) << line;
    ++n;
  }
  EXPECT_EQ(n, 3);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(JsonLinesAuditSink, RejectsMultiLineEvents) {
  const std::string path = tempFile();
  auto sink = JsonLinesAuditSink::open(path);
  ASSERT_TRUE(sink.ok());
  EXPECT_EQ((*sink)->append("{\n}").error().code, ErrorCode::AuditInvalidEvent);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(JsonLinesAuditSink, UnwritableLogFailsClosed) {
  EXPECT_EQ(JsonLinesAuditSink::open("/nonexistent-dir/events.jsonl").error().code, ErrorCode::AuditUnavailable);
  // /dev/full accepts the open and fails every write with ENOSPC.
  auto sink = JsonLinesAuditSink::open("/dev/full");
  ASSERT_TRUE(sink.ok());
  auto r = (*sink)->append(R"({"type":"x"})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::AuditUnavailable);
  EXPECT_FALSE((*sink)->healthy());
}

}  // namespace
}  // namespace sealgate::appliance
