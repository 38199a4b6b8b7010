#include "hsm/session_pool.h"

#include <memory>
#include <utility>

#include "hsm/pkcs11_error.h"
#include "hsm/pkcs11_module.h"

namespace sealgate::hsm {

SessionLease::~SessionLease() {
  if (owner_ != nullptr) owner_->release(handle_, broken_);
}

void SessionLease::note(CK_RV rv) {
  if (isSessionFatal(rv)) broken_ = true;
}

SessionPool::SessionPool(CK_FUNCTION_LIST* fns, CK_SLOT_ID slot, Secret pin, SessionPoolLimits limits)
    : fns_(fns), slot_(slot), pin_(std::move(pin)), limits_(limits) {}

Result<std::unique_ptr<SessionPool>> SessionPool::open(CK_FUNCTION_LIST* fns, CK_SLOT_ID slot, Secret pin,
                                                       SessionPoolLimits limits) {
  if (limits.maxSessions == 0) return makeError(hsm_errc::kBadInput, "maxSessions must be at least 1");
  std::unique_ptr<SessionPool> pool(new SessionPool(fns, slot, std::move(pin), limits));
  auto first = pool->openLoggedInSession();
  if (!first) return std::move(first).takeError();
  std::lock_guard lock(pool->mu_);
  pool->idle_.push_back(*first);
  pool->open_ = 1;
  return pool;
}

SessionPool::~SessionPool() {
  std::lock_guard lock(mu_);
  for (CK_SESSION_HANDLE h : idle_) fns_->C_CloseSession(h);
  idle_.clear();
}

Result<CK_SESSION_HANDLE> SessionPool::openLoggedInSession() {
  auto session = Pkcs11Session::open(fns_, slot_);
  if (!session) return std::move(session).takeError();
  // Login state is per application; a second login reports CKR_USER_ALREADY_LOGGED_IN.
  auto pin = pin_.exposeSecretBytes();
  CK_RV rv = fns_->C_Login(session->handle(), CKU_USER, const_cast<CK_UTF8CHAR*>(pin.data()), pin.size());
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    auto e = pkcs11Error("C_Login", rv);
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED) e.code = hsm_errc::kPin;
    return e;  // the session closes with `session`
  }
  return session->release();
}

Result<SessionLease> SessionPool::acquire() {
  std::unique_lock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + limits_.wait;
  while (idle_.empty() && open_ >= limits_.maxSessions) {
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() && open_ >= limits_.maxSessions) {
      return makeError(hsm_errc::kBusy, "no HSM session became free in time");
    }
  }
  if (!idle_.empty()) {
    CK_SESSION_HANDLE h = idle_.back();
    idle_.pop_back();
    return SessionLease(this, h);
  }
  ++open_;
  lock.unlock();
  auto h = openLoggedInSession();
  if (!h) {
    std::lock_guard relock(mu_);
    --open_;
    cv_.notify_one();
    return std::move(h).takeError();
  }
  return SessionLease(this, *h);
}

void SessionPool::release(CK_SESSION_HANDLE h, bool broken) {
  std::lock_guard lock(mu_);
  if (broken) {
    fns_->C_CloseSession(h);
    --open_;
  } else {
    idle_.push_back(h);
  }
  cv_.notify_one();
}

std::size_t SessionPool::openSessions() const {
  std::lock_guard lock(mu_);
  return open_;
}

}  // namespace sealgate::hsm
