// AuditSink: where every decision and use is recorded before the response.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"

namespace sealgate {

class AuditSink {
 public:
  virtual ~AuditSink() = default;

  // Appends one event (a JSON object carrying resource_refs, never URIs or values).
  // Contract: durable (or replicated) before returning, within a bounded wait; an
  // Error means the event was not recorded and the caller must deny (fail closed).
  // Returns the event's position in the log (its audit_id).
  virtual Result<std::uint64_t> append(const std::string& eventJson) = 0;

  // True when the sink can currently accept events (for /readyz).
  virtual bool healthy() const = 0;

  // Records that one event was sampled out by policy (high-volume allows only;
  // denials, break-glass, admin actions and reveals are never sampled). The next
  // appended event carries the count (`sampled_out`).
  virtual void sampledOut() {}
};

}  // namespace sealgate
