#pragma once
// Status and Result<T>: error values for code that must not throw (the data path, parsers).
// GCC 12 in C++20 mode has no std::expected, so this is the project's small equivalent.
//
// Thread-safety: plain values; const use is safe from several threads.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace meshproof::core {

enum class StatusCode {
  Ok,
  InvalidArgument, // the caller's input is wrong (bad spec, bad flag)
  NotFound,
  AlreadyExists,
  FailedPrecondition,
  Unavailable, // a peer or resource cannot be reached now
  DeadlineExceeded,
  IoError,
  Corruption, // persisted data does not verify
  Internal,
};

// Returns a stable lower-case name for `code`, e.g. "invalid_argument".
const char* statusCodeName(StatusCode code);

class Status {
public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool isOk() const { return code_ == StatusCode::Ok; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid_argument: <message>", or "ok".
  std::string toString() const;

private:
  StatusCode code_ = StatusCode::Ok;
  std::string message_;
};

inline Status invalidArgument(std::string message) {
  return {StatusCode::InvalidArgument, std::move(message)};
}
inline Status notFound(std::string message) {
  return {StatusCode::NotFound, std::move(message)};
}
inline Status unavailable(std::string message) {
  return {StatusCode::Unavailable, std::move(message)};
}
inline Status ioError(std::string message) {
  return {StatusCode::IoError, std::move(message)};
}
inline Status internalError(std::string message) {
  return {StatusCode::Internal, std::move(message)};
}

// Either a value or a non-ok Status. Accessing value() of an error is a programming error
// (asserts).
template <typename T>
class Result {
public:
  Result(T value) : state_(std::move(value)) {}       // NOLINT(google-explicit-constructor)
  Result(Status status) : state_(std::move(status)) { // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(state_).isOk() && "Result built from an ok Status has no value");
  }

  bool isOk() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return isOk(); }

  const T& value() const& {
    assert(isOk());
    return std::get<T>(state_);
  }
  T& value() & {
    assert(isOk());
    return std::get<T>(state_);
  }
  T&& value() && {
    assert(isOk());
    return std::get<T>(std::move(state_));
  }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }

  // The error; Status::ok() when this holds a value.
  Status status() const { return isOk() ? Status::ok() : std::get<Status>(state_); }

private:
  std::variant<T, Status> state_;
};

} // namespace meshproof::core
