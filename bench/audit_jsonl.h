// AuditSink that appends one JSON object per line to a file and fdatasync()s it
// before returning. The stopgap until the signed, Merkle-tree audit log (audit
// issue): events are durable before the response, but not yet tamper-evident.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "core/interfaces/audit_sink.h"

namespace sealgate::appliance {

class JsonLinesAuditSink : public AuditSink {
 public:
  // Opens (creating, 0600) `path` for appending. Existing lines are counted so
  // audit ids keep increasing across restarts.
  static Result<std::unique_ptr<JsonLinesAuditSink>> open(const std::string& path);
  ~JsonLinesAuditSink() override;

  Result<std::uint64_t> append(const std::string& eventJson) override;
  bool healthy() const override;

 private:
  JsonLinesAuditSink() = default;
  mutable std::mutex mu_;
  int fd_ = -1;
  std::uint64_t next_ = 0;
  bool failed_ = false;
  std::string path_;
};

}  // namespace sealgate::appliance
