#pragma once
// Envoy's per-cluster statistics as Envoy's Prometheus endpoint names them
// (istio-envoy-semantics.md §3.5):
// envoy_cluster_<stat>{cluster_name="outbound|<port>|<subset>|<host>"}. Retries, timeouts,
// overflows, outlier ejections and circuit-breaker state, so ejection and breaker alerts written
// for a real cluster apply to meshproof's proxies unchanged.

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "meshproof/metrics/metrics.h"

namespace meshproof::metrics {

// "outbound|9080|v1|reviews.default.svc.cluster.local" (an empty subset stays empty:
// "outbound|80||h").
std::string outboundClusterName(uint32_t port, const std::string& subset, const std::string& host);

// Handles to one cluster's statistics. References stay valid for the registry's lifetime.
struct ClusterStats {
  // Router and retry state (E-CS.rst).
  Counter& upstream_rq_retry;
  Counter& upstream_rq_retry_success;
  Counter& upstream_rq_retry_limit_exceeded;
  Counter& upstream_rq_retry_overflow;
  Counter& upstream_rq_retry_backoff_exponential;
  Counter& upstream_rq_timeout;
  Counter& upstream_rq_per_try_timeout;
  Counter& upstream_rq_pending_overflow;
  Counter& upstream_cx_overflow;
  Counter& upstream_cx_none_healthy;
  // Outlier detection.
  Gauge& ejections_active;
  Counter& ejections_overflow;
  Counter& ejections_enforced_total;
  Counter& ejections_enforced_consecutive_5xx;
  Counter& ejections_detected_consecutive_5xx;
  Counter& ejections_enforced_consecutive_gateway_failure;
  Counter& ejections_detected_consecutive_gateway_failure;
  Counter& ejections_enforced_consecutive_local_origin_failure;
  Counter& ejections_detected_consecutive_local_origin_failure;
  // Circuit breakers, default priority: 0/1 gauges and the remaining capacity.
  Gauge& cb_cx_open;
  Gauge& cb_cx_pool_open;
  Gauge& cb_rq_pending_open;
  Gauge& cb_rq_open;
  Gauge& cb_rq_retry_open;
  Gauge& cb_remaining_cx;
  Gauge& cb_remaining_pending;
  Gauge& cb_remaining_rq;
  Gauge& cb_remaining_retries;
};

class EnvoyClusterMetrics {
public:
  explicit EnvoyClusterMetrics(Registry& registry);

  // The statistics of `cluster_name`, created on first use (thread-safe).
  ClusterStats& forCluster(const std::string& cluster_name);

private:
  Registry& registry_;
  std::mutex mutex_;
  std::map<std::string, ClusterStats*> clusters_;
  std::deque<ClusterStats> storage_;
};

} // namespace meshproof::metrics
