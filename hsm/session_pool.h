// A bounded pool of logged-in PKCS#11 sessions on one token, safe to use from
// many threads. Internal to the hsm folder: KeyStore owns one and never hands
// its sessions out.
#pragma once

#include <p11-kit/pkcs11.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "core/result.h"
#include "core/secret.h"

namespace sealgate::hsm {

class SessionPool;

// A session borrowed from the pool; returned (or closed if broken) on destruction.
class SessionLease {
 public:
  SessionLease(SessionPool* owner, CK_SESSION_HANDLE h) : owner_(owner), handle_(h) {}
  SessionLease(SessionLease&& o) noexcept : owner_(o.owner_), handle_(o.handle_), broken_(o.broken_) {
    o.owner_ = nullptr;
  }
  SessionLease(const SessionLease&) = delete;
  SessionLease& operator=(const SessionLease&) = delete;
  SessionLease& operator=(SessionLease&&) = delete;
  ~SessionLease();
  CK_SESSION_HANDLE handle() const { return handle_; }
  // Inspect a CK_RV: session-fatal codes mark the lease broken so it is closed.
  void note(CK_RV rv);

 private:
  SessionPool* owner_;
  CK_SESSION_HANDLE handle_;
  bool broken_ = false;
};

struct SessionPoolLimits {
  std::size_t maxSessions = 8;           // at least 1
  std::chrono::milliseconds wait{2000};  // how long acquire() waits for a free session
};

class SessionPool {
 public:
  // Opens and logs in the first session now, so a wrong PIN fails at start-up
  // (HSM_PIN), not at the first request.
  static Result<std::unique_ptr<SessionPool>> open(CK_FUNCTION_LIST* fns, CK_SLOT_ID slot, Secret pin,
                                                   SessionPoolLimits limits);
  ~SessionPool();  // closes the idle sessions; every lease must be back by then
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;

  // An idle session, a newly opened and logged-in one if under the limit, or
  // HSM_BUSY once the wait is over.
  Result<SessionLease> acquire();
  std::size_t openSessions() const;

 private:
  friend class SessionLease;
  SessionPool(CK_FUNCTION_LIST* fns, CK_SLOT_ID slot, Secret pin, SessionPoolLimits limits);
  Result<CK_SESSION_HANDLE> openLoggedInSession();
  void release(CK_SESSION_HANDLE h, bool broken);

  CK_FUNCTION_LIST* fns_;
  CK_SLOT_ID slot_;
  Secret pin_;
  SessionPoolLimits limits_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<CK_SESSION_HANDLE> idle_;
  std::size_t open_ = 0;
};

}  // namespace sealgate::hsm
