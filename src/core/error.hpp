// Error and Result<T>: how every layer below cli/ reports failure.
//
// An Error names the operation that failed, the errno the kernel gave (0 when the failure is not a
// syscall's), and a hint: one sentence a person can act on. The library never prints; cli/ decides
// how an Error reaches the user.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace perfscope {

struct Error {
  std::string op;    // what was being done: "perf_event_open(page-faults, pid 123)"
  int errnum = 0;    // errno, or 0 when not from a syscall
  std::string hint;  // how to fix it; may be empty, may span lines

  // "op: strerror(errnum)" (or just op when errnum is 0), without the hint.
  std::string message() const;
  // message() followed by the hint on the next lines.
  std::string describe() const;
};

// Builds an Error from the current errno.
Error errno_error(std::string op, std::string hint = {});

// A value or an Error. Deliberately small: has_value(), operator bool, value(), error(), ->, *.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }
  Error&& take_error() && { return std::get<1>(std::move(v_)); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}
  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }
  Error&& take_error() && { return std::move(error_); }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace perfscope
