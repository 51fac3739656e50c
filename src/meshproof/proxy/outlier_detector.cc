#include "meshproof/proxy/outlier_detector.h"

#include <algorithm>

namespace meshproof::proxy {

using namespace std::chrono_literals;

const char* ejectionReasonName(EjectionReason reason) {
  switch (reason) {
  case EjectionReason::Consecutive5xx:
    return "consecutive_5xx";
  case EjectionReason::ConsecutiveGatewayFailure:
    return "consecutive_gateway_failure";
  case EjectionReason::ConsecutiveLocalOrigin:
    return "consecutive_local_origin_failure";
  }
  return "?";
}

OutlierDetector::OutlierDetector(const spec::OutlierDetection& config, core::Clock& clock,
                                 metrics::ClusterStats* stats)
    : config_(config),
      // Envoy's max_ejection_time defaults to max(300 s, base) and Istio does not expose it.
      max_ejection_time_(std::max<core::Duration>(300s, config.base_ejection_time)), clock_(clock),
      stats_(stats), next_tick_(clock.monotonicNow() + config.interval) {}

void OutlierDetector::setHosts(const std::vector<std::string>& hosts) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, HostMonitor> next;
  for (const std::string& h : hosts) {
    auto it = hosts_.find(h);
    next.emplace(h, it != hosts_.end() ? it->second : HostMonitor{});
  }
  hosts_ = std::move(next);
  active_ = static_cast<uint32_t>(std::count_if(hosts_.begin(), hosts_.end(),
                                                [](const auto& kv) { return kv.second.ejected; }));
  if (stats_ != nullptr) {
    stats_->ejections_active.set(active_);
  }
}

void OutlierDetector::reportStatus(const std::string& host, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = hosts_.find(host);
  if (it != hosts_.end()) {
    putStatusLocked(host, it->second, status);
  }
}

void OutlierDetector::reportLocalOrigin(const std::string& host, LocalOrigin what) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) {
    return;
  }
  HostMonitor& m = it->second;
  if (!config_.split_external_local_origin_errors) {
    // §2.3.2: without the split, local-origin failures are 503 (connect/reset) or 504 (timeout).
    putStatusLocked(host, m, what == LocalOrigin::Timeout ? 504 : 503);
    return;
  }
  if (config_.consecutive_local_origin_failures > 0 &&
      ++m.consecutive_local_origin == config_.consecutive_local_origin_failures) {
    onDetectedLocked(host, m, EjectionReason::ConsecutiveLocalOrigin);
  }
}

void OutlierDetector::putStatusLocked(const std::string& host, HostMonitor& m, int status) {
  if (status < 500 || status > 599) {
    m.consecutive_5xx = 0;
    m.consecutive_gateway = 0;
    if (config_.split_external_local_origin_errors) {
      m.consecutive_local_origin = 0;
    }
    return;
  }
  if (status == 502 || status == 503 || status == 504) {
    if (config_.consecutive_gateway_errors > 0 &&
        ++m.consecutive_gateway == config_.consecutive_gateway_errors) {
      onDetectedLocked(host, m, EjectionReason::ConsecutiveGatewayFailure);
    }
  } else {
    m.consecutive_gateway = 0; // a non-gateway 5xx breaks a run of gateway errors
  }
  if (config_.consecutive_5xx_errors > 0 && ++m.consecutive_5xx == config_.consecutive_5xx_errors) {
    onDetectedLocked(host, m, EjectionReason::Consecutive5xx);
  }
}

void OutlierDetector::onDetectedLocked(const std::string& host, HostMonitor& m,
                                       EjectionReason reason) {
  if (m.ejected) {
    return; // already out (panic-mode traffic); counters keep running until it returns
  }
  if (stats_ != nullptr) {
    switch (reason) {
    case EjectionReason::Consecutive5xx:
      stats_->ejections_detected_consecutive_5xx.inc();
      break;
    case EjectionReason::ConsecutiveGatewayFailure:
      stats_->ejections_detected_consecutive_gateway_failure.inc();
      break;
    case EjectionReason::ConsecutiveLocalOrigin:
      stats_->ejections_detected_consecutive_local_origin_failure.inc();
      break;
    }
  }
  const core::MonoTime now = clock_.monotonicNow();
  // §2.4: strict cap (Envoy >= 1.27): at most floor(hosts * percent / 100) hosts out at once.
  const double after = 100.0 * (active_ + 1) / static_cast<double>(hosts_.size());
  if (after <= static_cast<double>(config_.max_ejection_percent)) {
    m.ejected = true;
    m.ejected_at = now;
    // The multiplier grows while the ejection would still be shorter than the cap allows.
    if (static_cast<int64_t>(m.multiplier) * config_.base_ejection_time <
        max_ejection_time_ + config_.base_ejection_time) {
      ++m.multiplier;
    }
    ++active_;
    if (stats_ != nullptr) {
      stats_->ejections_active.set(active_);
      stats_->ejections_enforced_total.inc();
      switch (reason) {
      case EjectionReason::Consecutive5xx:
        stats_->ejections_enforced_consecutive_5xx.inc();
        break;
      case EjectionReason::ConsecutiveGatewayFailure:
        stats_->ejections_enforced_consecutive_gateway_failure.inc();
        break;
      case EjectionReason::ConsecutiveLocalOrigin:
        stats_->ejections_enforced_consecutive_local_origin_failure.inc();
        break;
      }
    }
    events_.push_back({OutlierEvent::Kind::Ejected, host, reason, now, ejectionTimeLocked(m)});
  } else {
    if (stats_ != nullptr) {
      stats_->ejections_overflow.inc();
    }
    events_.push_back({OutlierEvent::Kind::Overflow, host, reason, now, {}});
  }
  // The counter restarts whatever the outcome, so a new run of errors is needed.
  switch (reason) {
  case EjectionReason::Consecutive5xx:
    m.consecutive_5xx = 0;
    break;
  case EjectionReason::ConsecutiveGatewayFailure:
    m.consecutive_gateway = 0;
    break;
  case EjectionReason::ConsecutiveLocalOrigin:
    m.consecutive_local_origin = 0;
    break;
  }
}

core::Duration OutlierDetector::ejectionTimeLocked(const HostMonitor& m) const {
  return std::min<core::Duration>(config_.base_ejection_time * m.multiplier, max_ejection_time_);
}

void OutlierDetector::onIntervalTick() {
  std::lock_guard<std::mutex> lock(mutex_);
  const core::MonoTime now = clock_.monotonicNow();
  for (auto& [host, m] : hosts_) {
    if (m.ejected) {
      if (now - m.ejected_at >= ejectionTimeLocked(m)) {
        m.ejected = false;
        m.was_unejected = true;
        m.unejected_at = now;
        m.consecutive_5xx = 0;
        m.consecutive_gateway = 0;
        m.consecutive_local_origin = 0;
        --active_;
        events_.push_back({OutlierEvent::Kind::Unejected, host, {}, now, {}});
      }
    } else if (m.multiplier > 0 && m.was_unejected && now - m.unejected_at >= config_.interval) {
      --m.multiplier;
    }
  }
  if (stats_ != nullptr) {
    stats_->ejections_active.set(active_);
  }
  while (next_tick_ <= now) {
    next_tick_ += config_.interval;
  }
}

core::MonoTime OutlierDetector::nextTick() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return next_tick_;
}

bool OutlierDetector::isEjected(const std::string& host) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = hosts_.find(host);
  return it != hosts_.end() && it->second.ejected;
}

uint32_t OutlierDetector::ejectedCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return active_;
}

uint32_t OutlierDetector::multiplier(const std::string& host) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? 0 : it->second.multiplier;
}

std::vector<std::string> OutlierDetector::availableHosts(bool* panic) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> healthy;
  std::vector<std::string> all;
  for (const auto& [host, m] : hosts_) {
    all.push_back(host);
    if (!m.ejected) {
      healthy.push_back(host);
    }
  }
  // §2.5: panic when the healthy share falls below the threshold (0 disables panic mode).
  const bool in_panic = !all.empty() && 100.0 * static_cast<double>(healthy.size()) /
                                                static_cast<double>(all.size()) <
                                            static_cast<double>(config_.min_health_percent);
  if (panic != nullptr) {
    *panic = in_panic;
  }
  return in_panic ? all : healthy;
}

std::vector<OutlierEvent> OutlierDetector::events() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_;
}

} // namespace meshproof::proxy
