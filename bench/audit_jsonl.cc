#include "bench/audit_jsonl.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

namespace sealgate::appliance {

Result<std::unique_ptr<JsonLinesAuditSink>> JsonLinesAuditSink::open(const std::string& path) {
  std::unique_ptr<JsonLinesAuditSink> sink(new JsonLinesAuditSink());
  sink->path_ = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) ++sink->next_;
  }
  sink->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (sink->fd_ < 0) {
    return makeError(ErrorCode::AuditUnavailable, "cannot open the audit log " + path + ": " + std::strerror(errno));
  }
  return sink;
}

JsonLinesAuditSink::~JsonLinesAuditSink() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::uint64_t> JsonLinesAuditSink::append(const std::string& eventJson) {
  if (eventJson.find('\n') != std::string::npos) {
    return makeError(ErrorCode::AuditInvalidEvent, "audit events are single-line JSON");
  }
  std::lock_guard lock(mu_);
  const std::string line = eventJson + "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failed_ = true;
      return makeError(ErrorCode::AuditUnavailable,
                       std::string("the audit log cannot be written: ") + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd_) != 0) {
    failed_ = true;
    return makeError(ErrorCode::AuditUnavailable,
                     std::string("the audit log cannot be synced: ") + std::strerror(errno));
  }
  failed_ = false;
  return next_++;
}

bool JsonLinesAuditSink::healthy() const {
  std::lock_guard lock(mu_);
  return fd_ >= 0 && !failed_;
}

}  // namespace sealgate::appliance
