#pragma once
// Steady-state numbers from a proxy's Prometheus metrics (the gateway's reporter="source" side):
// requests, 5xx and the istio_request_duration_milliseconds histogram, as counters; the difference
// of two readings gives the success rate and the P95 of the window between them (interpolated in
// the bucket as Prometheus' histogram_quantile does).

#include <cstdint>
#include <map>

#include "meshproof/chaos/engine.h"
#include "meshproof/metrics/exposition.h"

namespace meshproof::chaos {

struct ProxyCounters {
  uint64_t requests = 0;
  uint64_t failed = 0;                       // 5xx
  std::map<double, double> duration_buckets; // le (ms) -> cumulative count; +Inf as infinity
};

ProxyCounters proxyCounters(const metrics::Exposition& metrics);

// The window between two readings; P95 0 without requests.
SteadyState steadyStateBetween(const ProxyCounters& before, const ProxyCounters& after);

// Prometheus' histogram_quantile over cumulative buckets (le -> count); NaN-free: 0 when empty,
// the highest finite bound when the quantile falls in +Inf.
double histogramQuantile(double q, const std::map<double, double>& cumulative);

} // namespace meshproof::chaos
