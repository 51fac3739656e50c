#include "meshproof/validate/retries.h"

#include <gtest/gtest.h>

namespace meshproof::validate {
namespace {

RetriesInput retriesInput() {
  RetriesInput in;
  in.host = "service-b";
  in.fail_first = 2;
  in.num_retries = 3;
  in.requests_sent = 100;
  in.client_statuses = {{200, 100}};
  in.first_attempts = 100;
  in.retry_attempts = 200;
  return in;
}

TEST(RetriesValidation, PassesWhenEveryRequestTookKPlusOneAttempts) {
  const RetriesResult r = evaluateRetries(retriesInput());
  EXPECT_EQ(r.verdict, Verdict::Pass) << r.reason;
  EXPECT_EQ(r.attempts_per_request, 3u);
  EXPECT_DOUBLE_EQ(r.amplification, 3.0);
}

TEST(RetriesValidation, FailsWhenRetriesAreMissing) { // the positive control's numbers
  RetriesInput in = retriesInput();
  in.client_statuses = {{503, 100}};
  in.retry_attempts = 0;
  const RetriesResult r = evaluateRetries(in);
  EXPECT_EQ(r.verdict, Verdict::Fail);
  EXPECT_NE(r.reason.find("0 of 100 requests ended with 200 (seen: 503 x100)"), std::string::npos)
      << r.reason;
  EXPECT_NE(r.reason.find("expected 200"), std::string::npos) << r.reason;
}

TEST(RetriesValidation, MoreFailuresThanRetriesMustFail) {
  RetriesInput in = retriesInput();
  in.fail_first = 5;
  in.client_statuses = {{503, 100}};
  in.retry_attempts = 300;
  const RetriesResult r = evaluateRetries(in);
  EXPECT_EQ(r.expected_status, 503);
  EXPECT_EQ(r.verdict, Verdict::Pass) << r.reason;
}

TEST(RetriesValidation, ExtraRetriesAreAFailureToo) {
  RetriesInput in = retriesInput();
  in.retry_attempts = 201;
  EXPECT_EQ(evaluateRetries(in).verdict, Verdict::Fail);
}

} // namespace
} // namespace meshproof::validate

namespace meshproof::validate {
namespace {

using namespace std::chrono_literals;

HangInput hang() {
  HangInput in;
  in.num_retries = 3;
  in.per_try_timeout = 2s;
  in.route_timeout = 10s;
  in.client_status = 504;
  in.elapsed = 8150ms;
  in.per_try_timeouts = 4;
  in.ut_responses = 1;
  return in;
}

TEST(HangValidation, FourTriesOfTwoSecondsThen504) {
  EXPECT_EQ(evaluateHang(hang()).verdict, Verdict::Pass) << evaluateHang(hang()).reason;
}

TEST(HangValidation, EachBrokenExpectationFails) {
  HangInput fast = hang();
  fast.elapsed = 2100ms; // one try: no retries
  fast.per_try_timeouts = 1;
  const HangResult r = evaluateHang(fast);
  EXPECT_EQ(r.verdict, Verdict::Fail);
  EXPECT_NE(r.reason.find("1 per-try timeouts, expected 4"), std::string::npos) << r.reason;
  HangInput slow = hang();
  slow.elapsed = 10s;
  EXPECT_EQ(evaluateHang(slow).verdict, Verdict::Fail);
  HangInput wrong = hang();
  wrong.client_status = 503;
  EXPECT_EQ(evaluateHang(wrong).verdict, Verdict::Fail);
}

} // namespace
} // namespace meshproof::validate
