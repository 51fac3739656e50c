#pragma once
// Istio's standard request metrics (istio-envoy-semantics.md §3.1-3.4; DESIGN.md §7), with Istio's
// names, label names in Istio's emitted order, and Envoy's default buckets, so Istio's dashboards
// and alert rules work on what meshproof's proxies expose.

#include <string>
#include <vector>

#include "meshproof/metrics/metrics.h"

namespace meshproof::metrics {

// Label values for one request record. Unknown peers are "unknown", except canonical revisions,
// which default to "latest" (STATS.cc).
struct IstioLabels {
  std::string reporter = "source"; // source | destination | waypoint
  std::string source_workload = "unknown";
  std::string source_canonical_service = "unknown";
  std::string source_canonical_revision = "latest";
  std::string source_workload_namespace = "unknown";
  std::string source_principal = "unknown";
  std::string source_app = "unknown";
  std::string source_version = "unknown";
  std::string source_cluster = "unknown";
  std::string destination_workload = "unknown";
  std::string destination_workload_namespace = "unknown";
  std::string destination_principal = "unknown";
  std::string destination_app = "unknown";
  std::string destination_version = "unknown";
  std::string destination_service = "unknown";
  std::string destination_canonical_service = "unknown";
  std::string destination_canonical_revision = "latest";
  std::string destination_service_name = "unknown";
  std::string destination_service_namespace = "unknown";
  std::string destination_cluster = "unknown";
  std::string request_protocol = "http";
  std::string response_code = "0";  // "0" when there was no response
  std::string grpc_response_status; // empty for plain HTTP
  std::string response_flags = "-"; // Envoy short flags joined by ',' or "-"
  // Always "unknown" on the client side; "mutual_tls" or "none" on the server side.
  std::string connection_security_policy = "unknown";

  // Values in the order of istioLabelNames().
  std::vector<std::string> values() const;
};

// The 25 label names, in Istio's emitted order (STATS.cc populatePeerInfo, log).
const std::vector<std::string>& istioLabelNames();

class IstioMetrics {
public:
  explicit IstioMetrics(Registry& registry);

  // The four children of one label set. Callers on the data path keep a Series per distinct label
  // set instead of looking the children up for every request.
  struct Series {
    Counter& requests;
    Histogram& duration_ms;
    Histogram& request_bytes;
    Histogram& response_bytes;
    void record(double duration, double request_size, double response_size) {
      requests.inc();
      duration_ms.observe(duration);
      request_bytes.observe(request_size);
      response_bytes.observe(response_size);
    }
  };
  Series series(const IstioLabels& labels);

  // Records one finished request as Istio's stats filter does at stream end: the counter, the
  // duration in milliseconds and the request/response sizes in bytes.
  void record(const IstioLabels& labels, double duration_ms, double request_bytes,
              double response_bytes);

  Family<Counter>& requests_total;
  Family<Histogram>& request_duration_milliseconds;
  Family<Histogram>& request_bytes;
  Family<Histogram>& response_bytes;
};

} // namespace meshproof::metrics
