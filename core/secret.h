// Secret: the only type that holds plaintext secret material.
//
// Move-only; storage comes from sodium_malloc (guard pages, mlock'd, excluded from
// core dumps where the OS allows) and is zeroized on destruction and when moved
// from. No operator<<, no conversion to string: raw bytes are reachable only via
// the greppable `exposeSecretBytes()`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/result.h"

namespace sealgate {

class Secret {
 public:
  Secret() = default;
  ~Secret();
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;

  // Copies `bytes` into protected memory. The caller should wipe its own copy.
  static Result<Secret> copyFrom(std::span<const std::uint8_t> bytes);
  static Result<Secret> copyFrom(std::string_view bytes);
  // `size` zero bytes in protected memory, to be filled via exposeSecretBytes().
  static Result<Secret> allocate(std::size_t size);

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // The one way to reach plaintext. Grep for it in review.
  std::span<const std::uint8_t> exposeSecretBytes() const { return {data_, size_}; }
  std::span<std::uint8_t> exposeSecretBytesMutable() { return {data_, size_}; }

  // Constant-time comparison (length is not secret).
  bool equals(const Secret& other) const;

  // Shrinks the visible size (e.g. after reading a PIN with a trailing newline).
  void truncate(std::size_t newSize);

 private:
  void release() noexcept;
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// Wipes memory in a way the compiler may not elide.
void secureWipe(void* data, std::size_t size);

}  // namespace sealgate
