// One error style for the whole project: Result<T> holds a value or an Error.
// No exceptions cross a module boundary; callers must look at every Result.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "core/error_code.h"

namespace sealgate {

// A failure. `code` is one of core/error_code.h (its wire name: errorCodeName);
// `message` is for humans and never carries secret material or a full secret URI.
// `operation` and `native` keep the low-level cause (e.g. "C_Sign" and its CK_RV,
// a TSS2_RC, an errno) instead of collapsing it to a bool.
struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string message;
  std::string operation{};
  unsigned long native = 0;

  std::string describe() const;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

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
  Result(Ok) {}                                                   // NOLINT
  Result(Error error) : err_(std::move(error)), failed_(true) {}  // NOLINT
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return err_; }
  Error takeError() && { return std::move(err_); }

 private:
  Error err_{};
  bool failed_ = false;
};

inline Error makeError(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace sealgate

// Propagate a failed Result from the enclosing function.
#define SEALGATE_TRY(...)                                                               \
  do {                                                                                  \
    auto&& sealgate_try_result_ = (__VA_ARGS__);                                        \
    if (!sealgate_try_result_.ok()) return std::move(sealgate_try_result_).takeError(); \
  } while (0)

// Evaluates a Result<T>; on failure returns its Error from the enclosing
// function, else moves the value into `lhs`, a declaration or an lvalue:
//   SEALGATE_ASSIGN_OR_RETURN(auto key, store.find(label));   // key is a T
//   SEALGATE_ASSIGN_OR_RETURN(a.host, normalizeHost(h, "ssh.host"));
// Expands to statements in the enclosing scope (not one statement): not as the
// body of an unbraced if/for.
#define SEALGATE_ASSIGN_OR_RETURN(lhs, ...) \
  SEALGATE_ASSIGN_OR_RETURN_IMPL_(SEALGATE_CONCAT_(sealgate_result_, __LINE__), lhs, __VA_ARGS__)
#define SEALGATE_ASSIGN_OR_RETURN_IMPL_(result, lhs, ...) \
  auto result = (__VA_ARGS__);                            \
  if (!result.ok()) return std::move(result).takeError(); \
  lhs = std::move(result).value()
#define SEALGATE_CONCAT_(a, b) SEALGATE_CONCAT_IMPL_(a, b)
#define SEALGATE_CONCAT_IMPL_(a, b) a##b
