#include "core/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sealgate {
namespace {

Error ioError(ErrorCode code, const char* operation, const std::string& what, int err) {
  Error e = makeError(code, what + ": " + std::strerror(err));
  e.operation = operation;
  e.native = static_cast<unsigned long>(err);
  return e;
}

}  // namespace

Result<void> writeAll(int fd, std::span<const std::uint8_t> data, ErrorCode code) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ioError(code, "write", "cannot write", n < 0 ? errno : ENOSPC);
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return Ok{};
}

Result<void> writeAll(int fd, std::string_view data, ErrorCode code) {
  return writeAll(fd, std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()), code);
}

Result<void> syncFd(int fd, ErrorCode code) {
  if (::fsync(fd) != 0) return ioError(code, "fsync", "cannot sync", errno);
  return Ok{};
}

Result<void> syncDir(const std::filesystem::path& dir, ErrorCode code) {
  const std::filesystem::path d = dir.empty() ? std::filesystem::path(".") : dir;
  UniqueFd fd(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ioError(code, "open", "cannot open the directory " + d.string(), errno);
  if (::fsync(fd.get()) != 0) return ioError(code, "fsync-dir", "cannot sync the directory " + d.string(), errno);
  return Ok{};
}

std::filesystem::path atomicTmpPath(const std::filesystem::path& path) { return path.string() + ".tmp"; }

Result<void> writeFileAtomically(const std::filesystem::path& path, std::span<const std::uint8_t> bytes, mode_t mode,
                                 ErrorCode code) {
  const std::filesystem::path tmp = atomicTmpPath(path);
  // A tmp file left by a crash is garbage: remove it, then create ours
  // exclusively (never through a symlink, never into a file someone holds).
  ::unlink(tmp.c_str());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd) return ioError(code, "open", "cannot create " + tmp.string(), errno);
  auto fail = [&](Error e) {
    fd.reset();
    ::unlink(tmp.c_str());
    return e;
  };
  if (auto w = writeAll(fd.get(), bytes, code); !w) {
    Error e = std::move(w).takeError();
    e.message = "cannot write " + tmp.string() + ": " + std::strerror(static_cast<int>(e.native));
    return fail(std::move(e));
  }
  if (::fsync(fd.get()) != 0) return fail(ioError(code, "fsync", "cannot sync " + tmp.string(), errno));
  if (::close(fd.release()) != 0) return fail(ioError(code, "close", "cannot close " + tmp.string(), errno));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(ioError(code, "rename", "cannot rename " + tmp.string() + " to " + path.filename().string(), errno));
  }
  return syncDir(path.parent_path(), code);
}

Result<void> writeFileAtomically(const std::filesystem::path& path, std::string_view bytes, mode_t mode,
                                 ErrorCode code) {
  return writeFileAtomically(path, std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), mode,
                             code);
}

}  // namespace sealgate
