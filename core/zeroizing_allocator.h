// An allocator that wipes memory before giving it back, for containers whose
// contents encode secret values (the egress guard's patterns and automaton).
// Vector growth frees the old buffer through deallocate(), so it is wiped too.
// Use it with std::vector, not std::basic_string: a short string lives in the
// string object itself (small-string optimisation) and never reaches deallocate().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/secret.h"

namespace sealgate {

template <typename T>
struct ZeroizingAllocator {
  using value_type = T;

  ZeroizingAllocator() noexcept = default;
  template <typename U>
  ZeroizingAllocator(const ZeroizingAllocator<U>&) noexcept {}  // NOLINT: rebinding

  T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    secureWipe(p, n * sizeof(T));
    std::allocator<T>{}.deallocate(p, n);
  }

  template <typename U>
  bool operator==(const ZeroizingAllocator<U>&) const noexcept {
    return true;
  }
};

template <typename T>
using WipedVector = std::vector<T, ZeroizingAllocator<T>>;
using WipedBytes = WipedVector<std::uint8_t>;

}  // namespace sealgate
