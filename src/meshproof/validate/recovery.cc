#include "meshproof/validate/recovery.h"

#include <algorithm>
#include <cstdio>

namespace meshproof::validate {

namespace {

std::string seconds(core::Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
  return buf;
}

std::string percent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %%", p);
  return buf;
}

} // namespace

RecoveryResult evaluateRecovery(const RecoveryInput& in) {
  RecoveryResult r;
  const auto& t = in.timeline;
  const auto n = static_cast<int64_t>(t.size());
  const int64_t w = std::max<int64_t>(1, in.window / in.bucket);
  const int64_t k = std::min<int64_t>(n, in.kill_at / in.bucket);
  // Prefix sums of ok and failed requests.
  std::vector<uint64_t> ok(static_cast<size_t>(n) + 1, 0);
  std::vector<uint64_t> bad(static_cast<size_t>(n) + 1, 0);
  for (int64_t i = 0; i < n; ++i) {
    const auto u = static_cast<size_t>(i);
    ok[u + 1] = ok[u] + t[u].ok;
    bad[u + 1] = bad[u] + t[u].failed;
  }
  // Success rate of buckets [a, b) in percent; -1 when no request fell there.
  auto rate = [&](int64_t a, int64_t b) {
    const uint64_t good = ok[static_cast<size_t>(b)] - ok[static_cast<size_t>(a)];
    const uint64_t all = good + bad[static_cast<size_t>(b)] - bad[static_cast<size_t>(a)];
    return all == 0 ? -1.0 : 100.0 * static_cast<double>(good) / static_cast<double>(all);
  };
  r.baseline_success_percent = rate(std::max<int64_t>(0, k - w), k);
  r.requests_after_kill = ok[static_cast<size_t>(n)] - ok[static_cast<size_t>(k)] +
                          bad[static_cast<size_t>(n)] - bad[static_cast<size_t>(k)];
  r.failed_after_kill = bad[static_cast<size_t>(n)] - bad[static_cast<size_t>(k)];
  // The last window (start >= k) below the objective; recovery starts one bucket after it.
  std::optional<int64_t> recovered;
  if (n - w >= k) {
    int64_t last_bad = k - 1;
    for (int64_t j = k; j + w <= n; ++j) {
      const double p = rate(j, j + w);
      r.worst_window_percent = std::min(r.worst_window_percent, std::max(p, 0.0));
      if (p < in.success_rate_percent) {
        last_bad = j;
      }
    }
    if (last_bad + 1 + w <= n) {
      recovered = last_bad + 1;
      r.recovered_after = (*recovered - k) * in.bucket;
    }
  }
  std::vector<std::string> problems;
  if (in.load_invalid) {
    r.verdict = Verdict::Inconclusive;
    r.reason = "the load generator fell below 95 % of its intended rate (load-invalid)";
    return r;
  }
  if (r.baseline_success_percent < in.success_rate_percent) {
    r.verdict = Verdict::Inconclusive;
    r.reason = "no steady state before the kill: success rate " +
               (r.baseline_success_percent < 0 ? std::string("unknown (no requests)")
                                               : percent(r.baseline_success_percent)) +
               " over the window before it, objective " + percent(in.success_rate_percent);
    // A generator far behind its schedule sends requests due before the kill after it; they are
    // counted where they were due, so the kill's failures land in the window before it. (Lags
    // under a bucket are jitter, not a starved generator.)
    core::Duration lag{};
    for (int64_t i = std::max<int64_t>(0, k - w); i < k; ++i) {
      const core::Duration bucket_lag = t[static_cast<size_t>(i)].max_send_lag;
      if (bucket_lag >= in.bucket && (i + 1) * in.bucket + bucket_lag > in.kill_at) {
        lag = std::max(lag, bucket_lag);
      }
    }
    if (lag > core::Duration::zero()) {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "; the load ran up to %.0f ms behind its schedule there, so requests due "
                    "before the kill were sent after it (the load machine was starved)",
                    std::chrono::duration<double, std::milli>(lag).count());
      r.reason += buf;
    }
    return r;
  }
  if (!in.ready_after) {
    problems.push_back(in.pod + " was not ready again within " + seconds(in.max_recovery));
  } else if (*in.ready_after > in.max_recovery) {
    problems.push_back(in.pod + " took " + seconds(*in.ready_after) + " to be ready again (max " +
                       seconds(in.max_recovery) + ")");
  }
  if (r.recovered_after && *r.recovered_after > in.max_recovery) {
    problems.push_back("the success rate took " + seconds(*r.recovered_after) + " to be back at " +
                       percent(in.success_rate_percent) + " (max " + seconds(in.max_recovery) +
                       ")");
  }
  if (!r.recovered_after) {
    if ((n - k) * in.bucket >= in.max_recovery + in.window) {
      problems.push_back("the success rate was not back at " + percent(in.success_rate_percent) +
                         " within " + seconds(in.max_recovery));
    } else if (problems.empty()) {
      r.verdict = Verdict::Inconclusive;
      r.reason = "no full " + seconds(in.window) + " window at " +
                 percent(in.success_rate_percent) + " was observed after the kill";
      return r;
    }
  }
  if (!problems.empty()) {
    r.verdict = Verdict::Fail;
    for (const std::string& p : problems) {
      r.reason += (r.reason.empty() ? "" : "; ") + p;
    }
    return r;
  }
  r.verdict = Verdict::Pass;
  r.reason = "success rate back at " + percent(in.success_rate_percent) + " over " +
             seconds(in.window) + " windows " + seconds(*r.recovered_after) + " after killing " +
             in.pod + " (" + std::to_string(r.failed_after_kill) +
             " failed requests); ready again after " + seconds(*in.ready_after);
  return r;
}

} // namespace meshproof::validate
