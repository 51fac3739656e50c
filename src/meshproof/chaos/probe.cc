#include "meshproof/chaos/probe.h"

#include <cmath>
#include <limits>
#include <string>

namespace meshproof::chaos {

ProxyCounters proxyCounters(const metrics::Exposition& m) {
  ProxyCounters c;
  for (const metrics::Sample* s : m.select("istio_requests_total", {{"reporter", "source"}})) {
    const auto n = static_cast<uint64_t>(s->value);
    c.requests += n;
    auto code = s->labels.find("response_code");
    if (code != s->labels.end() && !code->second.empty() && code->second[0] == '5') {
      c.failed += n;
    }
  }
  for (const metrics::Sample* s :
       m.select("istio_request_duration_milliseconds_bucket", {{"reporter", "source"}})) {
    auto le = s->labels.find("le");
    if (le == s->labels.end()) {
      continue;
    }
    const double bound =
        le->second == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(le->second);
    c.duration_buckets[bound] += s->value;
  }
  return c;
}

double histogramQuantile(double q, const std::map<double, double>& cumulative) {
  if (cumulative.empty()) {
    return 0;
  }
  const double total = cumulative.rbegin()->second;
  if (!(total > 0)) {
    return 0;
  }
  const double rank = q * total;
  double prev_bound = 0;
  double prev_count = 0;
  for (const auto& [bound, count] : cumulative) {
    if (count >= rank) {
      if (std::isinf(bound)) {
        return prev_bound; // as Prometheus: the highest finite bucket's upper bound
      }
      const double in_bucket = count - prev_count;
      return in_bucket > 0 ? prev_bound + (bound - prev_bound) * (rank - prev_count) / in_bucket
                           : bound;
    }
    prev_bound = bound;
    prev_count = count;
  }
  return prev_bound;
}

SteadyState steadyStateBetween(const ProxyCounters& a, const ProxyCounters& b) {
  SteadyState s;
  s.requests = b.requests >= a.requests ? b.requests - a.requests : b.requests;
  const uint64_t failed = b.failed >= a.failed ? b.failed - a.failed : b.failed;
  s.success_percent = s.requests == 0
                          ? 100.0
                          : 100.0 * static_cast<double>(s.requests - std::min(failed, s.requests)) /
                                static_cast<double>(s.requests);
  std::map<double, double> window;
  for (const auto& [le, count] : b.duration_buckets) {
    auto before = a.duration_buckets.find(le);
    window[le] = count - (before == a.duration_buckets.end() ? 0 : before->second);
  }
  s.p95_ms = histogramQuantile(0.95, window);
  return s;
}

} // namespace meshproof::chaos
