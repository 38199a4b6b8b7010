// Bounds a whole connector action in time, whatever the peer does: at the
// deadline the socket is shut down (both directions), so every blocked read or
// write in the client library returns at once with an error. Per-read timeouts
// alone (Poco, libpq) let a peer that trickles one byte at a time run on.
#pragma once

#include <chrono>
#include <cstdint>

namespace sealgate::connectors {

class SocketDeadline {
 public:
  using Clock = std::chrono::steady_clock;
  // Arms the deadline for `fd`. The caller must destroy this object before it
  // closes `fd` (declare it after the connection object), so a reused
  // descriptor is never shut down.
  SocketDeadline(int fd, Clock::time_point deadline);
  ~SocketDeadline();
  SocketDeadline(const SocketDeadline&) = delete;
  SocketDeadline& operator=(const SocketDeadline&) = delete;
  // True when the deadline passed and the socket was shut down.
  bool expired() const;

 private:
  std::uint64_t id_;
};

}  // namespace sealgate::connectors
