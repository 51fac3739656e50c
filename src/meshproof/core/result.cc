#include "meshproof/core/result.h"

namespace meshproof::core {

const char* statusCodeName(StatusCode code) {
  switch (code) {
  case StatusCode::Ok:
    return "ok";
  case StatusCode::InvalidArgument:
    return "invalid_argument";
  case StatusCode::NotFound:
    return "not_found";
  case StatusCode::AlreadyExists:
    return "already_exists";
  case StatusCode::FailedPrecondition:
    return "failed_precondition";
  case StatusCode::Unavailable:
    return "unavailable";
  case StatusCode::DeadlineExceeded:
    return "deadline_exceeded";
  case StatusCode::IoError:
    return "io_error";
  case StatusCode::Corruption:
    return "corruption";
  case StatusCode::Internal:
    return "internal";
  }
  return "unknown";
}

std::string Status::toString() const {
  if (isOk()) {
    return "ok";
  }
  return std::string(statusCodeName(code_)) + ": " + message_;
}

} // namespace meshproof::core
