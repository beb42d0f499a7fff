#pragma once
// Status and Result<T>: how Eddy reports expected failures (bad input, a remote that answered
// wrongly, an I/O error) without exceptions on the data path. Impossible conditions are bugs and
// use EDDY_CHECK instead.

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace eddy {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // the caller's input is wrong (config, payload, request)
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kUnavailable,       // transient: retrying later may succeed (network, broker)
  kDeadlineExceeded,  // a time budget ran out
  kResourceExhausted, // a size or count limit was hit
  kDataLoss,          // stored data is corrupt
  kInternal,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: <message>", or "OK".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Internal("Result constructed from an OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

[[noreturn]] void CheckFailed(const char* file, int line, const char* expr);

}  // namespace eddy

// For conditions that can only be false through a bug in Eddy itself (never for input).
#define EDDY_CHECK(cond) \
  do { if (!(cond)) ::eddy::CheckFailed(__FILE__, __LINE__, #cond); } while (0)

#define EDDY_RETURN_IF_ERROR(expr) \
  do { ::eddy::Status _st = (expr); if (!_st.ok()) return _st; } while (0)
