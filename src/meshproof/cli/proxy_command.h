#pragma once
// `meshproof proxy -f SPEC [--admin-port P] [--admin-address A --admin-token T] [--seed N]
// [--request-headers-timeout D] [--stream-idle-timeout D] [--drain-timeout D] [--concurrency N]`:
// the data plane
// alone, in front of the user's own services (ServiceEntry endpoints). Prints where it listens,
// serves until SIGINT or SIGTERM, drains (requests in flight finish, new connections are refused)
// and exits 0. Bad spec, a bad duration or a port that cannot be bound: a clear message and exit 2.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace meshproof::cli {

struct ProxyCommandOptions {
  std::vector<std::string> spec_paths;
  uint16_t admin_port = 0;
  std::string admin_address = "127.0.0.1";
  std::string admin_token;
  uint64_t seed = 0;
  // Durations as the spec writes them ("10s", "500ms"); see proxy::ProxyOptions.
  std::string request_headers_timeout = "10s";
  std::string stream_idle_timeout = "5m";
  std::string drain_timeout = "5s";
  uint32_t concurrency = 1; // worker threads (proxy::ProxyOptions::concurrency)
};

int proxyCommand(const ProxyCommandOptions& options, std::ostream& out, std::ostream& err);

} // namespace meshproof::cli
