#include "core/file_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace sealgate {
namespace {
// Any code but the default: the helpers must pass the caller's through.
constexpr ErrorCode kMyCode = ErrorCode::StateUnavailable;

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class FileIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sealgate-file-io-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, ec);
    fs::remove_all(dir_, ec);
  }
  // Only the target (and whatever the test made) is left in the directory.
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }
  fs::path dir_;
};

TEST_F(FileIoTest, WritesAndReplacesWholeWithTheModeAndNoTmpLeft) {
  const fs::path p = dir_ / "state";
  ASSERT_TRUE(writeFileAtomically(p, std::string_view("first"), 0600));
  EXPECT_EQ(slurp(p), "first");
  ASSERT_TRUE(writeFileAtomically(p, std::string_view("second, longer"), 0600));
  EXPECT_EQ(slurp(p), "second, longer");
  ASSERT_TRUE(writeFileAtomically(p, std::string_view(""), 0600));
  EXPECT_EQ(slurp(p), "");
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists(atomicTmpPath(p)));
  EXPECT_EQ(entries(), 1u);
}

TEST_F(FileIoTest, BytesOverloadWritesBinary) {
  const fs::path p = dir_ / "blob";
  const std::uint8_t bytes[] = {0, 1, 2, 0xff, 0};
  ASSERT_TRUE(writeFileAtomically(p, std::span<const std::uint8_t>(bytes), 0600));
  EXPECT_EQ(slurp(p), std::string("\0\1\2\xff\0", 5));
}

TEST_F(FileIoTest, AStaleTmpFromACrashIsReplaced) {
  const fs::path p = dir_ / "state";
  std::ofstream(atomicTmpPath(p)) << "half a write from before the crash";
  ASSERT_TRUE(writeFileAtomically(p, std::string_view("new"), 0600));
  EXPECT_EQ(slurp(p), "new");
  EXPECT_FALSE(fs::exists(atomicTmpPath(p)));
}

TEST_F(FileIoTest, AStaleTmpSymlinkIsNotFollowed) {
  const fs::path p = dir_ / "state";
  const fs::path victim = dir_ / "victim";
  std::ofstream(victim) << "untouched";
  fs::create_symlink(victim, atomicTmpPath(p));
  ASSERT_TRUE(writeFileAtomically(p, std::string_view("new"), 0600));
  EXPECT_EQ(slurp(victim), "untouched");
  EXPECT_EQ(slurp(p), "new");
  EXPECT_FALSE(fs::is_symlink(p));
}

TEST_F(FileIoTest, MissingDirectoryFailsWithTheCallersCode) {
  auto w = writeFileAtomically(dir_ / "absent" / "state", std::string_view("x"), 0600, kMyCode);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, kMyCode);
  EXPECT_EQ(w.error().operation, "open");
  EXPECT_EQ(w.error().native, static_cast<unsigned long>(ENOENT));
  auto generic = writeFileAtomically(dir_ / "absent" / "state", std::string_view("x"));
  ASSERT_FALSE(generic);
  EXPECT_EQ(generic.error().code, file_errc::kIo);
}

TEST_F(FileIoTest, UnwritableDirectoryFailsAndChangesNothing) {
  const fs::path p = dir_ / "state";
  ASSERT_TRUE(writeFileAtomically(p, std::string_view("old"), 0600));
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
  auto attempt = [&] {
    auto w = writeFileAtomically(p, std::string_view("new"), 0600, kMyCode);
    return !w && w.error().code == kMyCode && w.error().native == static_cast<unsigned long>(EACCES);
  };
  bool refused = false;
  if (::geteuid() != 0) {
    refused = attempt();
  } else {
    // Root writes into a 0500 directory: try as an unprivileged user instead, in
    // a child (nobody cannot enter the root-owned 0700 scratch directory either).
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      const bool dropped = ::setgid(65534) == 0 && ::setuid(65534) == 0;
      ::_exit(dropped && attempt() ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    refused = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  fs::permissions(dir_, fs::perms::owner_all);
  EXPECT_TRUE(refused) << "the write into an unwritable directory was not refused with the caller's code and EACCES";
  EXPECT_EQ(slurp(p), "old");
  EXPECT_EQ(entries(), 1u);
}

TEST_F(FileIoTest, TmpThatCannotBeCreatedFailsAndChangesNothing) {
  // A directory where the tmp file must go (holds for root too, unlike permissions).
  const fs::path p = dir_ / "state";
  ASSERT_TRUE(writeFileAtomically(p, std::string_view("old"), 0600));
  fs::create_directory(atomicTmpPath(p));
  auto w = writeFileAtomically(p, std::string_view("new"), 0600, kMyCode);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, kMyCode);
  EXPECT_EQ(w.error().operation, "open");
  EXPECT_EQ(slurp(p), "old");
  EXPECT_TRUE(fs::is_directory(atomicTmpPath(p)));  // not ours: left alone
}

TEST_F(FileIoTest, FailedRenameRemovesTheTmp) {
  // The target is a non-empty directory: rename(2) refuses to replace it.
  const fs::path p = dir_ / "state";
  fs::create_directories(p / "inside");
  auto w = writeFileAtomically(p, std::string_view("new"), 0600, kMyCode);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, kMyCode);
  EXPECT_EQ(w.error().operation, "rename");
  EXPECT_FALSE(fs::exists(atomicTmpPath(p)));
  EXPECT_TRUE(fs::is_directory(p / "inside"));
}

TEST_F(FileIoTest, FailedWriteRemovesTheTmpAndKeepsTheOldFile) {
  // RLIMIT_FSIZE makes write(2) fail with EFBIG part-way (SIGXFSZ ignored).
  const fs::path p = dir_ / "state";
  ASSERT_TRUE(writeFileAtomically(p, std::string_view("old"), 0600));
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto* oldHandler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto w = writeFileAtomically(p, std::string(64 * 1024, 'x'), 0600, kMyCode);
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, oldHandler);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, kMyCode);
  EXPECT_EQ(w.error().operation, "write");
  EXPECT_EQ(w.error().native, static_cast<unsigned long>(EFBIG));
  EXPECT_EQ(slurp(p), "old");
  EXPECT_FALSE(fs::exists(atomicTmpPath(p)));
}

TEST_F(FileIoTest, RelativePathSyncsTheCurrentDirectory) {
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  auto w = writeFileAtomically("relative", std::string_view("x"), 0600);
  fs::current_path(cwd);
  ASSERT_TRUE(w) << w.error().describe();
  EXPECT_EQ(slurp(dir_ / "relative"), "x");
}

TEST_F(FileIoTest, SyncDirReportsItsFailures) {
  // The directory fsync itself cannot be observed from a test; its error
  // reporting can.
  EXPECT_TRUE(syncDir(dir_));
  EXPECT_TRUE(syncDir(""));  // "."
  auto missing = syncDir(dir_ / "absent", kMyCode);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, kMyCode);
  EXPECT_EQ(missing.error().native, static_cast<unsigned long>(ENOENT));
  std::ofstream(dir_ / "file") << "x";
  auto notDir = syncDir(dir_ / "file");
  ASSERT_FALSE(notDir);
  EXPECT_EQ(notDir.error().native, static_cast<unsigned long>(ENOTDIR));
}

TEST_F(FileIoTest, SyncFdReportsABadDescriptor) {
  auto r = syncFd(-1, kMyCode);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().operation, "fsync");
  EXPECT_EQ(r.error().native, static_cast<unsigned long>(EBADF));
}

TEST(WriteAll, NoSpaceIsAnError) {
  UniqueFd full(::open("/dev/full", O_WRONLY | O_CLOEXEC));
  if (!full) GTEST_SKIP() << "no /dev/full";
  auto w = writeAll(full.get(), std::string_view("data"), kMyCode);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, kMyCode);
  EXPECT_EQ(w.error().operation, "write");
  EXPECT_EQ(w.error().native, static_cast<unsigned long>(ENOSPC));
}

std::atomic<int> gInterrupts{0};
void onSignal(int) { gInterrupts.fetch_add(1); }

TEST(WriteAll, SignalsAndShortWritesAreRetriedUntilEverythingIsWritten) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd readEnd(fds[0]), writeEnd(fds[1]);
  // No SA_RESTART: a signal during a blocked write(2) interrupts it (EINTR, or
  // a short count once some bytes went through).
  struct sigaction sa {
  }, old{};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old), 0);
  gInterrupts = 0;
  const std::string data(1 << 20, 'z');  // far more than a pipe holds
  const pthread_t writer = ::pthread_self();
  std::string received;
  std::thread reader([&] {
    for (int i = 0; i < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ::pthread_kill(writer, SIGUSR1);  // the writer is blocked on a full pipe
    }
    char buf[65536];
    while (received.size() < data.size()) {
      const ssize_t n = ::read(readEnd.get(), buf, sizeof buf);
      if (n <= 0) break;
      received.append(buf, static_cast<std::size_t>(n));
    }
  });
  auto w = writeAll(writeEnd.get(), data);
  reader.join();
  ::sigaction(SIGUSR1, &old, nullptr);
  ASSERT_TRUE(w) << w.error().describe();
  EXPECT_GE(gInterrupts.load(), 1);
  EXPECT_EQ(received, data);
}

TEST(UniqueFd, ClosesOnDestructionAndMoves) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    UniqueFd a(raw);
    EXPECT_TRUE(a.valid());
    UniqueFd b(std::move(a));
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    EXPECT_EQ(b.get(), raw);
    UniqueFd c;
    c = std::move(b);
    EXPECT_EQ(c.get(), raw);
    EXPECT_NE(::fcntl(raw, F_GETFD), -1);
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);  // closed
  EXPECT_EQ(errno, EBADF);

  int other = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  UniqueFd d(other);
  const int released = d.release();
  EXPECT_FALSE(d);
  EXPECT_NE(::fcntl(released, F_GETFD), -1);  // still open: the caller owns it
  d.reset(released);
  d.reset();
  EXPECT_EQ(::fcntl(released, F_GETFD), -1);
  static_assert(!std::is_copy_constructible_v<UniqueFd>);
  static_assert(std::is_nothrow_move_constructible_v<UniqueFd>);
}

}  // namespace
}  // namespace sealgate
