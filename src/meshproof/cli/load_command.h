#pragma once
// `meshproof load URL [--rate R] [--connections C] [--duration D | -n N] [--warmup D]
// [--timeout D] [--json]`: synthetic load against a loopback URL (load/generator.h). Prints a table
// (or fortio-style JSON): rate achieved vs intended, latency quantiles corrected for coordinated
// omission beside the uncorrected ones, counts per status and per version served, and the
// `load-invalid` flag when an open-loop run fell below 95 % of its rate; open loop, also how far
// behind its schedule the generator sent (send lag) and what it never sent. Bad input (a malformed
// or unreachable URL, a rate or duration that is not positive): a clear message and exit 2.

#include <cstdint>
#include <iosfwd>
#include <string>

namespace meshproof::cli {

struct LoadCommandOptions {
  std::string url;
  double rate = 0;
  int connections = 16;
  std::string duration;
  long long requests = 0;
  std::string warmup = "0s";
  std::string timeout = "30s";
  bool json = false;
  bool rate_given = false;
};

int loadCommand(const LoadCommandOptions& options, std::ostream& out, std::ostream& err);

} // namespace meshproof::cli
