#include "meshproof/validate/retries.h"

#include <algorithm>

namespace meshproof::validate {

RetriesResult evaluateRetries(const RetriesInput& in) {
  RetriesResult r;
  r.attempts_per_request = std::min(in.fail_first, in.num_retries) + 1u;
  r.expected_status = in.fail_first <= in.num_retries ? 200 : static_cast<int>(in.fail_status);
  if (in.first_attempts > 0) {
    r.amplification = static_cast<double>(in.first_attempts + in.retry_attempts) /
                      static_cast<double>(in.first_attempts);
  }
  std::string problems;
  auto problem = [&](const std::string& p) { problems += (problems.empty() ? "" : "; ") + p; };
  const auto expected_n = in.client_statuses.count(r.expected_status) != 0
                              ? in.client_statuses.at(r.expected_status)
                              : 0;
  if (in.requests_sent == 0) {
    problem("no requests were sent");
  }
  if (expected_n != in.requests_sent) {
    std::string seen;
    for (const auto& [status, n] : in.client_statuses) {
      seen += (seen.empty() ? "" : ", ") +
              (status == 0 ? std::string("no response") : std::to_string(status)) + " x" +
              std::to_string(n);
    }
    problem(std::to_string(expected_n) + " of " + std::to_string(in.requests_sent) +
            " requests ended with " + std::to_string(r.expected_status) + " (seen: " + seen + ")");
  }
  if (in.first_attempts != in.requests_sent) {
    problem(std::to_string(in.first_attempts) + " first attempts reached " + in.host + " for " +
            std::to_string(in.requests_sent) + " requests");
  }
  const uint64_t expected_retries = in.requests_sent * (r.attempts_per_request - 1);
  if (in.retry_attempts != expected_retries) {
    problem(std::to_string(in.retry_attempts) + " retries reached " + in.host + ", expected " +
            std::to_string(expected_retries) + " (" + std::to_string(r.attempts_per_request - 1) +
            " per request)");
  }
  if (problems.empty()) {
    r.verdict = Verdict::Pass;
    r.reason = "every request " +
               std::string(r.expected_status == 200 ? "succeeded" : "failed as the policy says") +
               " after exactly " + std::to_string(r.attempts_per_request) +
               " attempts upstream (fail first " + std::to_string(in.fail_first) + ", " +
               std::to_string(in.num_retries) + " retries)";
  } else {
    r.verdict = Verdict::Fail;
    r.reason = problems;
  }
  return r;
}

HangResult evaluateHang(const HangInput& in) {
  HangResult r;
  const std::string took =
      core::formatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(in.elapsed));
  const uint64_t tries = in.num_retries + 1u;
  const core::Duration floor = in.per_try_timeout * static_cast<int64_t>(tries);
  std::string problems;
  auto problem = [&](const std::string& p) { problems += (problems.empty() ? "" : "; ") + p; };
  if (in.client_status != 504) {
    problem("the request ended with " + std::to_string(in.client_status) + ", not 504");
  }
  if (in.per_try_timeouts != tries) {
    problem(std::to_string(in.per_try_timeouts) + " per-try timeouts, expected " +
            std::to_string(tries));
  }
  if (in.ut_responses != 1) {
    problem(std::to_string(in.ut_responses) + " responses flagged UT at the calling sidecar, "
                                              "expected 1");
  }
  if (in.elapsed < floor) {
    problem("it took " + took + ", less than " + std::to_string(tries) + " x " +
            core::formatDuration(in.per_try_timeout));
  }
  if (in.route_timeout && in.elapsed >= *in.route_timeout) {
    problem("it took " + took + ", not less than the route timeout " +
            core::formatDuration(*in.route_timeout));
  }
  if (problems.empty()) {
    r.verdict = Verdict::Pass;
    r.reason = "a hanging host got " + std::to_string(tries) + " tries of " +
               core::formatDuration(in.per_try_timeout) + " and a 504 UT after " + took;
  } else {
    r.reason = problems;
  }
  return r;
}

} // namespace meshproof::validate
