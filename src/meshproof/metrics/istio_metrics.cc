#include "meshproof/metrics/istio_metrics.h"

namespace meshproof::metrics {

const std::vector<std::string>& istioLabelNames() {
  static const std::vector<std::string> kNames{
      "reporter",
      "source_workload",
      "source_canonical_service",
      "source_canonical_revision",
      "source_workload_namespace",
      "source_principal",
      "source_app",
      "source_version",
      "source_cluster",
      "destination_workload",
      "destination_workload_namespace",
      "destination_principal",
      "destination_app",
      "destination_version",
      "destination_service",
      "destination_canonical_service",
      "destination_canonical_revision",
      "destination_service_name",
      "destination_service_namespace",
      "destination_cluster",
      "request_protocol",
      "response_code",
      "grpc_response_status",
      "response_flags",
      "connection_security_policy",
  };
  return kNames;
}

std::vector<std::string> IstioLabels::values() const {
  return {reporter,
          source_workload,
          source_canonical_service,
          source_canonical_revision,
          source_workload_namespace,
          source_principal,
          source_app,
          source_version,
          source_cluster,
          destination_workload,
          destination_workload_namespace,
          destination_principal,
          destination_app,
          destination_version,
          destination_service,
          destination_canonical_service,
          destination_canonical_revision,
          destination_service_name,
          destination_service_namespace,
          destination_cluster,
          request_protocol,
          response_code,
          grpc_response_status,
          response_flags,
          connection_security_policy};
}

IstioMetrics::IstioMetrics(Registry& registry)
    : requests_total(registry.counter("istio_requests_total",
                                      "Requests, counted once per stream at its end",
                                      istioLabelNames())),
      request_duration_milliseconds(registry.histogram("istio_request_duration_milliseconds",
                                                       "Request duration in milliseconds",
                                                       istioLabelNames())),
      request_bytes(registry.histogram(
          "istio_request_bytes", "Request size in bytes, headers included", istioLabelNames())),
      response_bytes(registry.histogram(
          "istio_response_bytes", "Response size in bytes, headers included", istioLabelNames())) {}

IstioMetrics::Series IstioMetrics::series(const IstioLabels& labels) {
  const std::vector<std::string> values = labels.values();
  return Series{requests_total.with(values), request_duration_milliseconds.with(values),
                request_bytes.with(values), response_bytes.with(values)};
}

void IstioMetrics::record(const IstioLabels& labels, double duration_ms, double request_size,
                          double response_size) {
  series(labels).record(duration_ms, request_size, response_size);
}

} // namespace meshproof::metrics
