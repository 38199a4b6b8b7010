// One error style for the whole project: Result<T> holds a value or an Error.
// No exceptions cross a module boundary; callers must look at every Result.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace sealgate {

// A failure. `code` is a stable UPPER_SNAKE identifier (API.md); `message` is for
// humans and never carries secret material or a full secret URI. `operation` and
// `native` keep the low-level cause (e.g. "C_Sign" and its CK_RV) instead of
// collapsing it to a bool.
struct Error {
  std::string code;
  std::string message;
  std::string operation{};
  unsigned long native = 0;

  std::string describe() const;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}      // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  const Error& error() const { return std::get<1>(v_); }
  Error takeError() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
struct Ok {};
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Ok) {}                                       // NOLINT
  Result(Error error) : err_(std::move(error)), failed_(true) {}  // NOLINT
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return err_; }
  Error takeError() && { return std::move(err_); }

 private:
  Error err_{};
  bool failed_ = false;
};

inline Error makeError(std::string code, std::string message) {
  return Error{std::move(code), std::move(message)};
}

}  // namespace sealgate

// Propagate a failed Result from the enclosing function.
#define SEALGATE_TRY(expr)                                  \
  do {                                                      \
    auto&& sealgate_try_result_ = (expr);                   \
    if (!sealgate_try_result_.ok())                         \
      return std::move(sealgate_try_result_).takeError();   \
  } while (0)
