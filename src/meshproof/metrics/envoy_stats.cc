#include "meshproof/metrics/envoy_stats.h"

namespace meshproof::metrics {

std::string outboundClusterName(uint32_t port, const std::string& subset, const std::string& host) {
  return "outbound|" + std::to_string(port) + "|" + subset + "|" + host;
}

EnvoyClusterMetrics::EnvoyClusterMetrics(Registry& registry) : registry_(registry) {}

ClusterStats& EnvoyClusterMetrics::forCluster(const std::string& cluster_name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = clusters_.find(cluster_name);
  if (it != clusters_.end()) {
    return *it->second;
  }
  Registry& r = registry_;
  const std::vector<std::string> label{"cluster_name"};
  auto counter = [&](const char* stat, const char* help) -> Counter& {
    return r.counter(std::string("envoy_cluster_") + stat, help, label).with({cluster_name});
  };
  auto gauge = [&](const char* stat, const char* help) -> Gauge& {
    return r.gauge(std::string("envoy_cluster_") + stat, help, label).with({cluster_name});
  };
  storage_.push_back(ClusterStats{
      counter("upstream_rq_retry", "Retries sent"),
      counter("upstream_rq_retry_success", "Requests that succeeded after a retry"),
      counter("upstream_rq_retry_limit_exceeded", "Requests whose retries were exhausted"),
      counter("upstream_rq_retry_overflow", "Retries not sent because the retry breaker was full"),
      counter("upstream_rq_retry_backoff_exponential",
              "Retries that waited an exponential backoff"),
      counter("upstream_rq_timeout", "Requests that hit the route timeout"),
      counter("upstream_rq_per_try_timeout", "Attempts that hit the per-try timeout"),
      counter("upstream_rq_pending_overflow", "Requests rejected because a breaker was full"),
      counter("upstream_cx_overflow", "Connections not opened because max_connections was reached"),
      counter("upstream_cx_none_healthy", "Requests with no healthy host"),
      gauge("outlier_detection_ejections_active", "Hosts ejected now"),
      counter("outlier_detection_ejections_overflow", "Ejections refused by maxEjectionPercent"),
      counter("outlier_detection_ejections_enforced_total", "Ejections enforced"),
      counter("outlier_detection_ejections_enforced_consecutive_5xx",
              "Ejections enforced for consecutive 5xx"),
      counter("outlier_detection_ejections_detected_consecutive_5xx",
              "Consecutive-5xx detections, enforced or not"),
      counter("outlier_detection_ejections_enforced_consecutive_gateway_failure",
              "Ejections enforced for consecutive gateway failures"),
      counter("outlier_detection_ejections_detected_consecutive_gateway_failure",
              "Consecutive gateway-failure detections, enforced or not"),
      counter("outlier_detection_ejections_enforced_consecutive_local_origin_failure",
              "Ejections enforced for consecutive local-origin failures"),
      counter("outlier_detection_ejections_detected_consecutive_local_origin_failure",
              "Consecutive local-origin failure detections, enforced or not"),
      gauge("circuit_breakers_default_cx_open", "1 while max_connections is reached"),
      gauge("circuit_breakers_default_cx_pool_open",
            "1 while the connection pool limit is reached"),
      gauge("circuit_breakers_default_rq_pending_open", "1 while max_pending_requests is reached"),
      gauge("circuit_breakers_default_rq_open", "1 while max_requests is reached"),
      gauge("circuit_breakers_default_rq_retry_open", "1 while max_retries is reached"),
      gauge("circuit_breakers_default_remaining_cx", "Connections left before the breaker opens"),
      gauge("circuit_breakers_default_remaining_pending",
            "Pending requests left before the breaker opens"),
      gauge("circuit_breakers_default_remaining_rq", "Requests left before the breaker opens"),
      gauge("circuit_breakers_default_remaining_retries", "Retries left before the breaker opens"),
  });
  clusters_.emplace(cluster_name, &storage_.back());
  return storage_.back();
}

} // namespace meshproof::metrics
