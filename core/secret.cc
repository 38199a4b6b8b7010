#include "core/secret.h"

#include <sodium.h>

#include <cstring>

namespace sealgate {
namespace {

bool sodiumReady() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

}  // namespace

void secureWipe(void* data, std::size_t size) {
  if (data != nullptr && size != 0) sodium_memzero(data, size);
}

Secret::~Secret() { release(); }

Secret::Secret(Secret&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    release();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void Secret::release() noexcept {
  if (data_ != nullptr) sodium_free(data_);  // sodium_free zeroizes before unmapping
  data_ = nullptr;
  size_ = 0;
}

Result<Secret> Secret::allocate(std::size_t size) {
  if (!sodiumReady()) return makeError(ErrorCode::CryptoInit, "libsodium failed to initialise");
  Secret s;
  if (size == 0) return s;
  void* p = sodium_malloc(size);
  if (p == nullptr) return makeError(ErrorCode::OutOfSecureMemory, "sodium_malloc failed");
  sodium_memzero(p, size);
  s.data_ = static_cast<std::uint8_t*>(p);
  s.size_ = size;
  return s;
}

Result<Secret> Secret::copyFrom(std::span<const std::uint8_t> bytes) {
  auto s = allocate(bytes.size());
  if (!s.ok()) return s;
  if (!bytes.empty()) std::memcpy(s->data_, bytes.data(), bytes.size());
  return s;
}

Result<Secret> Secret::copyFrom(std::string_view bytes) {
  return copyFrom(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

bool Secret::equals(const Secret& other) const {
  if (size_ != other.size_) return false;
  if (size_ == 0) return true;
  return sodium_memcmp(data_, other.data_, size_) == 0;
}

void Secret::truncate(std::size_t newSize) {
  if (newSize >= size_) return;
  sodium_memzero(data_ + newSize, size_ - newSize);
  size_ = newSize;
}

}  // namespace sealgate
