#pragma once
// Outlier detection for one upstream cluster of one client proxy, as Envoy does it under Istio
// (istio-envoy-semantics.md §2.2-2.5, Envoy >= 1.27 arithmetic):
//  - per-host consecutive 5xx / gateway-error / local-origin counters; any non-5xx resets them;
//  - detection on `++counter == threshold` (equality), acted on at once, counter reset afterwards;
//  - eject only while 100 * (active + 1) / hosts <= maxEjectionPercent, else ejections_overflow;
//  - ejection lasts min(base * multiplier, max(300 s, base)); hosts return only on interval ticks;
//  - the multiplier decays by one per tick once a host has been back for a whole interval;
//  - minHealthPercent is the panic threshold: below it every host takes traffic again.
// State is per client proxy and per cluster (subset): callers create one detector per cluster.
//
// Thread-safety: all methods may be called from any thread (one mutex). Time comes from the
// injected Clock; the owner calls onIntervalTick() every `interval` (see nextTick()).

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "meshproof/core/clock.h"
#include "meshproof/metrics/envoy_stats.h"
#include "meshproof/spec/spec.h"

namespace meshproof::proxy {

// What a request attempt against a host ended with, when no HTTP status came back.
enum class LocalOrigin {
  ConnectFailure, // connection refused, connect timeout
  Reset,          // the upstream reset or closed before the response headers
  Timeout,        // per-try or route timeout while waiting for headers
};

enum class EjectionReason { Consecutive5xx, ConsecutiveGatewayFailure, ConsecutiveLocalOrigin };

const char* ejectionReasonName(EjectionReason reason);

struct OutlierEvent {
  enum class Kind { Ejected, Unejected, Overflow };
  Kind kind;
  std::string host;
  EjectionReason reason = EjectionReason::Consecutive5xx; // for Ejected and Overflow
  core::MonoTime at;
  core::Duration ejection_time{}; // for Ejected: how long before the host may return
};

class OutlierDetector {
public:
  // `stats` may be null (no metrics). The Clock must outlive the detector.
  OutlierDetector(const spec::OutlierDetection& config, core::Clock& clock,
                  metrics::ClusterStats* stats);

  // Sets the cluster's hosts. Hosts that stay keep their state; new ones start clean; an ejected
  // host that leaves no longer counts as ejected.
  void setHosts(const std::vector<std::string>& hosts);

  // An HTTP status received from `host` (gRPC statuses already mapped to HTTP).
  void reportStatus(const std::string& host, int status);
  // A failure without a status (split=false: connect failure and reset count as 503, timeouts
  // as 504; split=true: they feed the local-origin counter). Circuit-breaker overflow must never be
  // reported (§2.3.2).
  void reportLocalOrigin(const std::string& host, LocalOrigin what);

  // Returns ejected hosts whose time is up; decays multipliers. Call at nextTick().
  void onIntervalTick();
  core::MonoTime nextTick() const;

  bool isEjected(const std::string& host) const;
  uint32_t ejectedCount() const;
  // The ejection multiplier of a host (0 when it never was ejected or has fully decayed).
  uint32_t multiplier(const std::string& host) const;

  // Hosts the load balancer may pick: the non-ejected ones, or all of them in panic mode (healthy
  // share below minHealthPercent). Empty when every host is ejected and panic is off (-> 503 UH).
  std::vector<std::string> availableHosts(bool* panic = nullptr) const;

  // Everything that happened, in order (for validations' timelines).
  std::vector<OutlierEvent> events() const;

private:
  struct HostMonitor {
    uint32_t consecutive_5xx = 0;
    uint32_t consecutive_gateway = 0;
    uint32_t consecutive_local_origin = 0;
    bool ejected = false;
    core::MonoTime ejected_at{};
    bool was_unejected = false;
    core::MonoTime unejected_at{};
    uint32_t multiplier = 0;
  };

  void putStatusLocked(const std::string& host, HostMonitor& m, int status);
  void onDetectedLocked(const std::string& host, HostMonitor& m, EjectionReason reason);
  core::Duration ejectionTimeLocked(const HostMonitor& m) const;

  const spec::OutlierDetection config_;
  const core::Duration max_ejection_time_;
  core::Clock& clock_;
  metrics::ClusterStats* stats_;
  mutable std::mutex mutex_;
  std::map<std::string, HostMonitor> hosts_;
  uint32_t active_ = 0;
  core::MonoTime next_tick_;
  std::vector<OutlierEvent> events_;
};

} // namespace meshproof::proxy
