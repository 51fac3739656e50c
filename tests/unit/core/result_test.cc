#include "meshproof/core/result.h"

#include <gtest/gtest.h>

namespace meshproof::core {
namespace {

TEST(Result, HoldsValueOrStatus) {
  Result<int> ok = 42;
  ASSERT_TRUE(ok.isOk());
  EXPECT_EQ(*ok, 42);
  EXPECT_TRUE(ok.status().isOk());

  Result<int> bad = invalidArgument("rate must be > 0");
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), StatusCode::InvalidArgument);
  EXPECT_EQ(bad.status().toString(), "invalid_argument: rate must be > 0");
}

TEST(Result, MovesValuesOut) {
  Result<std::string> r = std::string("evidence");
  std::string moved = std::move(r).value();
  EXPECT_EQ(moved, "evidence");
}

TEST(Status, NamesEveryCode) {
  for (StatusCode c : {StatusCode::Ok, StatusCode::InvalidArgument, StatusCode::NotFound,
                       StatusCode::AlreadyExists, StatusCode::FailedPrecondition,
                       StatusCode::Unavailable, StatusCode::DeadlineExceeded, StatusCode::IoError,
                       StatusCode::Corruption, StatusCode::Internal}) {
    EXPECT_STRNE(statusCodeName(c), "unknown");
  }
  EXPECT_EQ(Status::ok().toString(), "ok");
}

} // namespace
} // namespace meshproof::core
