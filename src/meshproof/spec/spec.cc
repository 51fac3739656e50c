#include "meshproof/spec/spec.h"

#include <algorithm>

namespace meshproof::spec {

std::optional<RetryOn> retryOnToken(std::string_view name) {
  static constexpr std::pair<std::string_view, RetryOn> kTokens[] = {
      {"5xx", RetryOn::Http5xx},
      {"gateway-error", RetryOn::GatewayError},
      {"reset", RetryOn::Reset},
      {"reset-before-request", RetryOn::ResetBeforeRequest},
      {"connect-failure", RetryOn::ConnectFailure},
      {"retriable-4xx", RetryOn::Retriable4xx},
      {"refused-stream", RetryOn::RefusedStream},
      {"retriable-status-codes", RetryOn::RetriableStatusCodes},
      {"retriable-headers", RetryOn::RetriableHeaders},
      {"envoy-ratelimited", RetryOn::EnvoyRateLimited},
      {"http3-post-connect-failure", RetryOn::Http3PostConnectFailure},
      {"cancelled", RetryOn::GrpcCancelled},
      {"deadline-exceeded", RetryOn::GrpcDeadlineExceeded},
      {"internal", RetryOn::GrpcInternal},
      {"resource-exhausted", RetryOn::GrpcResourceExhausted},
      {"unavailable", RetryOn::GrpcUnavailable},
  };
  for (const auto& [token, bit] : kTokens) {
    if (token == name) {
      return bit;
    }
  }
  return std::nullopt;
}

bool RetryPolicy::retriesAfterSend() const {
  if (!enabled) {
    return false;
  }
  constexpr uint32_t kAfterSend =
      static_cast<uint32_t>(RetryOn::Http5xx) | static_cast<uint32_t>(RetryOn::GatewayError) |
      static_cast<uint32_t>(RetryOn::Reset) | static_cast<uint32_t>(RetryOn::Retriable4xx) |
      static_cast<uint32_t>(RetryOn::RetriableHeaders);
  if ((retry_on & kAfterSend) != 0) {
    return true;
  }
  return has(RetryOn::RetriableStatusCodes) && !retriable_status_codes.empty();
}

bool RetryPolicy::retries5xx() const {
  if (!enabled) {
    return false;
  }
  if (has(RetryOn::Http5xx) || has(RetryOn::GatewayError)) {
    return true;
  }
  return has(RetryOn::RetriableStatusCodes) &&
         std::any_of(retriable_status_codes.begin(), retriable_status_codes.end(),
                     [](uint32_t c) { return c >= 500 && c <= 599; });
}

const Subset* DestinationRule::findSubset(const std::string& name) const {
  for (const Subset& s : subsets) {
    if (s.name == name) {
      return &s;
    }
  }
  return nullptr;
}

std::string shortHost(const std::string& host) {
  const size_t dot = host.find('.');
  if (dot == std::string::npos) {
    return host;
  }
  auto endsWith = [&](std::string_view suffix) {
    return host.size() >= suffix.size() &&
           host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (endsWith(".svc.cluster.local") || endsWith(".svc")) {
    return host.substr(0, dot);
  }
  return host;
}

bool sameHost(const std::string& a, const std::string& b) {
  return a == b || shortHost(a) == shortHost(b);
}

const DestinationRule* Spec::destinationRuleFor(const std::string& host) const {
  for (const DestinationRule& dr : destination_rules) {
    if (sameHost(dr.host, host)) {
      return &dr;
    }
  }
  return nullptr;
}

std::vector<const VirtualService*> Spec::virtualServicesFor(const std::string& host) const {
  std::vector<const VirtualService*> out;
  for (const VirtualService& vs : virtual_services) {
    if (std::any_of(vs.hosts.begin(), vs.hosts.end(),
                    [&](const std::string& h) { return sameHost(h, host); })) {
      out.push_back(&vs);
    }
  }
  return out;
}

std::vector<const Workload*> Spec::workloadsFor(const std::string& host) const {
  std::vector<const Workload*> out;
  const std::string name = shortHost(host);
  if (name.find('.') != std::string::npos) {
    return out; // an external name is never a local workload
  }
  for (const Workload& w : workloads) {
    if (w.app == name) {
      out.push_back(&w);
    }
  }
  return out;
}

std::vector<const ServiceEntry*> Spec::serviceEntriesFor(const std::string& host) const {
  std::vector<const ServiceEntry*> out;
  for (const ServiceEntry& se : service_entries) {
    if (std::any_of(se.hosts.begin(), se.hosts.end(),
                    [&](const std::string& h) { return sameHost(h, host); })) {
      out.push_back(&se);
    }
  }
  return out;
}

uint32_t Spec::endpointCount(const std::string& host,
                             const std::map<std::string, std::string>& selector) const {
  auto matches = [&](const std::map<std::string, std::string>& labels) {
    return std::all_of(selector.begin(), selector.end(), [&](const auto& kv) {
      auto it = labels.find(kv.first);
      return it != labels.end() && it->second == kv.second;
    });
  };
  uint32_t count = 0;
  for (const Workload* w : workloadsFor(host)) {
    if (matches(w->labels)) {
      count += w->replicas;
    }
  }
  for (const ServiceEntry* se : serviceEntriesFor(host)) {
    for (const WorkloadEntry& e : se->endpoints) {
      if (matches(e.labels)) {
        ++count;
      }
    }
  }
  return count;
}

} // namespace meshproof::spec
