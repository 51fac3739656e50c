#pragma once
// Synthetic HTTP/1.1 load (DESIGN.md §3 load/): closed loop (every connection sends its next
// request as soon as the last answer arrives: the maximum rate) or open loop at a constant rate,
// where request i is due at start + i / rate and its latency is measured from that intended time,
// so a stalled server cannot hide its stall by slowing the generator down (coordinated omission,
// wrk2's correction). The uncorrected latency (from the actual send) is kept beside it.
//
// An open-loop schedule ends at the duration's end (or when `stop` is first seen). Every request
// due before that is sent, late if the generator is behind: the latest requests are the ones a
// stall delayed most, and dropping them would hide the stall again. The generator keeps sending
// them for a grace of max(1 s, a tenth of the measured time) after the schedule's end; what is
// still unsent then is counted (LoadResult::unsent), and the run is load-invalid when what it
// recorded falls below 95 % of the rate. How far behind it ran is reported (send_lag).
//
// One thread, keep-alive connections, a request serialised once; responses are read with a small
// parser of its own (status line, Content-Length or chunked). Loopback targets only.
//
// Thread-safety: run() blocks its caller; stop() may be called from any thread or a signal.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "meshproof/core/clock.h"
#include "meshproof/core/result.h"
#include "meshproof/load/histogram.h"

namespace meshproof::load {

struct Target {
  std::string host; // as written in the URL; resolved to a loopback address
  std::string address;
  uint16_t port = 80;
  std::string path = "/";
};

// Parses "http://127.0.0.1:8080/path". Errors: another scheme, no host, a bad port, a host that is
// not loopback (meshproof never sends traffic off this machine).
core::Result<Target> parseUrl(const std::string& url);

struct LoadOptions {
  Target target;
  std::string method = "GET";
  std::map<std::string, std::string> headers;
  uint32_t connections = 16;
  double rate = 0;                        // requests per second; 0: closed loop
  std::optional<core::Duration> duration; // one of duration and requests
  std::optional<uint64_t> requests;
  core::Duration warmup{}; // results from the first `warmup` are not recorded
  core::Duration timeout = std::chrono::seconds(30);  // per request
  std::string version_header = "x-meshproof-version"; // counted per value
  // When positive, every request is also counted in a time series of buckets of this width, by
  // its intended send time from the start (warm-up included): LoadResult::timeline.
  core::Duration timeline_bucket{};
  // Called about once a second while running (for a progress line).
  std::function<void(uint64_t done, double elapsed_seconds)> progress;
};

// Requests of one timeline bucket: failed = no response or a 5xx (what a success rate counts).
struct TimelineBucket {
  uint64_t ok = 0;
  uint64_t failed = 0;
  core::Duration max_send_lag{}; // open loop: the latest send of the bucket's requests (sent -
                                 // intended), so a reader can tell when they left
};

struct LoadResult {
  Histogram latency;             // corrected: from the intended send time (open loop)
  Histogram latency_uncorrected; // from the actual send
  Histogram send_lag; // open loop: actual send - intended send (0 when on time, clamped to 1 us)
  std::map<int, uint64_t> status_counts; // 0: no response (connect error, reset, timeout)
  std::map<std::string, uint64_t> versions;
  uint64_t requests = 0;    // recorded (after warm-up)
  uint64_t errors = 0;      // no response
  double intended_rate = 0; // 0 for closed loop
  uint64_t unsent = 0;      // open loop: due in the measured time, still unsent after the grace
  double achieved_rate = 0; // recorded requests / measured seconds
  // Measured time (after warm-up): open loop, the schedule's (up to its end, not the answers to
  // its last requests); closed loop, until the last answer.
  double seconds = 0;
  bool load_invalid = false; // open loop below 95 % of the intended rate
  uint32_t connections = 0;
  std::string start_time; // ISO 8601 UTC
  core::WallTime started_at{};
  std::vector<TimelineBucket> timeline; // see LoadOptions::timeline_bucket
};

// Validates the options (rate >= 0 and finite, a positive duration or request count, at least one
// connection), checks that the target accepts a connection, then runs. Errors say which.
core::Result<LoadResult> runLoad(const LoadOptions& options, core::Clock& clock,
                                 const std::atomic<bool>* stop = nullptr);

} // namespace meshproof::load
