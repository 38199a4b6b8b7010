// Durable file writes: the one way the project replaces a file (tmp, fsync,
// rename, fsync the directory) and the pieces it is made of, for callers that
// need them on their own (an append-only journal, a log).
//
// Every failure is an Error with the caller's stable `code` (or
// file_errc::kIo), a message naming the step and the file, `operation` the
// failing call ("open", "write", "fsync", "rename", "fsync-dir") and `native`
// its errno.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>

#include "core/result.h"
#include "core/unique_fd.h"

namespace sealgate {

namespace file_errc {
inline constexpr ErrorCode kIo = ErrorCode::IoError;
}  // namespace file_errc

// Writes all of `data` to `fd`: short writes continue, EINTR retries. A write
// that returns 0 fails with ENOSPC.
Result<void> writeAll(int fd, std::span<const std::uint8_t> data, ErrorCode code = file_errc::kIo);
Result<void> writeAll(int fd, std::string_view data, ErrorCode code = file_errc::kIo);

// fsync(2) of `fd`; its error is reported, never ignored.
Result<void> syncFd(int fd, ErrorCode code = file_errc::kIo);

// Makes the directory entries of `dir` durable (fsync of the directory), e.g.
// after a rename or a create in it. An empty path means ".".
Result<void> syncDir(const std::filesystem::path& dir, ErrorCode code = file_errc::kIo);

// Replaces `path` with `bytes`, whole or not at all: the bytes go to
// `path`.tmp (a stale one from a crash is removed first; then created with
// O_EXCL|O_CLOEXEC|O_NOFOLLOW, `mode`), fsync'ed, renamed over `path`, and the
// directory fsync'ed. Every failure before the rename removes the tmp file and
// leaves `path` as it was; a failure of the directory fsync leaves the new
// content in place but not known to be durable.
Result<void> writeFileAtomically(const std::filesystem::path& path, std::span<const std::uint8_t> bytes,
                                 mode_t mode = 0600, ErrorCode code = file_errc::kIo);
Result<void> writeFileAtomically(const std::filesystem::path& path, std::string_view bytes, mode_t mode = 0600,
                                 ErrorCode code = file_errc::kIo);

// The temporary file writeFileAtomically uses for `path`.
std::filesystem::path atomicTmpPath(const std::filesystem::path& path);

}  // namespace sealgate
