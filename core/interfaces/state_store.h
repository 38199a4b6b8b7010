// StateStore: anti-replay and use-count truth (first version; refined by the
// sealed-state issue). Implementations: in-memory (tests), sealed local journal,
// etcd (cluster).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/result.h"

namespace sealgate {

class StateStore {
 public:
  virtual ~StateStore() = default;

  // Records `id` (a DPoP or grant jti) as seen until `expiresAt`.
  // Contract: atomic and durable before returning; returns false when `id` was
  // already recorded and has not expired (a replay). Any failure to make the
  // record durable is an Error: callers fail closed.
  virtual Result<bool> rememberOnce(const std::string& id,
                                    std::chrono::system_clock::time_point expiresAt) = 0;

  // Takes one use of grant `grantId`, created with `maxUses` on first use.
  // Contract: linearizable per grant; returns the remaining uses after taking
  // one, or the Error GRANT_EXHAUSTED when none remain. Durable before returning.
  virtual Result<std::uint32_t> takeUse(const std::string& grantId, std::uint32_t maxUses,
                                        std::chrono::system_clock::time_point expiresAt) {
    return takeUses(grantId, 1, maxUses, expiresAt);
  }

  // Takes `count` uses at once, all or nothing (delegation reserves a child's uses
  // from its parent). GRANT_EXHAUSTED when fewer than `count` remain.
  virtual Result<std::uint32_t> takeUses(const std::string& grantId, std::uint32_t count, std::uint32_t maxUses,
                                         std::chrono::system_clock::time_point expiresAt) = 0;

  // Marks a grant revoked: later takeUse calls fail with GRANT_REVOKED.
  virtual Result<void> revoke(const std::string& grantId,
                              std::chrono::system_clock::time_point expiresAt) = 0;
};

}  // namespace sealgate
