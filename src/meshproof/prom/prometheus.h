#pragma once
// The real Prometheus (Debian's 2.42) as a child process on loopback: a generated configuration
// that scrapes the platform's file_sd targets every `scrape_interval` (and loads rule files), a
// fresh TSDB in a temporary directory, a free port, readiness awaited (/-/ready), and its HTTP API
// (query, query_range, alerts) for validations, chaos probes and tests. The child gets SIGKILL if
// meshproof dies (PR_SET_PDEATHSIG); the destructor stops it (SIGTERM, then SIGKILL) and removes
// the temporary directory.
//
// Thread-safety: start() and the destructor from one thread; the queries from any thread.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshproof/core/duration.h"
#include "meshproof/core/result.h"

namespace meshproof::prom {

struct PrometheusOptions {
  std::string binary = "prometheus";
  std::string file_sd_path;            // targets to scrape (required)
  std::vector<std::string> rule_files; // absolute paths
  core::Duration scrape_interval = std::chrono::seconds(1);
  core::Duration evaluation_interval = std::chrono::seconds(1);
  core::Duration ready_timeout = std::chrono::seconds(30);
};

class Prometheus {
public:
  // Errors: NotFound when the binary is not on PATH (the message names the install command); the
  // configuration is refused (with Prometheus' own last log
  // lines), or it was not ready in time.
  static core::Result<std::unique_ptr<Prometheus>> start(const PrometheusOptions& options);
  // A client of a Prometheus that runs already (another command's) on 127.0.0.1:`port`; its
  // destructor leaves that Prometheus alone.
  static std::unique_ptr<Prometheus> attach(uint16_t port);
  ~Prometheus();

  uint16_t port() const { return port_; }
  std::string url() const;

  // data.result of an instant query (a vector: [{metric: {...}, value: [t, "v"]}, ...]).
  core::Result<nlohmann::json> query(const std::string& promql) const;
  // data.result of a range query (unix seconds, step in seconds).
  core::Result<nlohmann::json> queryRange(const std::string& promql, double start, double end,
                                          double step) const;
  // data.alerts of /api/v1/alerts.
  core::Result<nlohmann::json> alerts() const;
  // Waits until `n` targets report up == 1.
  core::Status waitForTargets(size_t n, core::Duration timeout) const;

private:
  Prometheus() = default;
  core::Result<nlohmann::json> api(const std::string& target) const;
  std::string logTail() const;

  int pid_ = 0;
  uint16_t port_ = 0;
  std::string dir_;
};

// True when `binary` (a name looked up on PATH, or a path) can be executed.
bool isExecutableOnPath(const std::string& binary);

// Percent-encodes a query parameter value (RFC 3986 unreserved characters stay).
std::string urlEncode(const std::string& value);

} // namespace meshproof::prom
