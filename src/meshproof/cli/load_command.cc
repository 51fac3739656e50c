#include "meshproof/cli/load_command.h"

#include <unistd.h>

#include <cmath>
#include <csignal>
#include <iomanip>
#include <ostream>

#include <nlohmann/json.hpp>

#include "meshproof/cli/app.h"
#include "meshproof/core/duration.h"
#include "meshproof/load/generator.h"

namespace meshproof::cli {

namespace {

std::atomic<bool> g_stop{false};

void onSignal(int) {
  g_stop.store(true);
}

nlohmann::json histogramJson(const load::Histogram& h) {
  nlohmann::json percentiles = nlohmann::json::array();
  for (double q : {50.0, 75.0, 90.0, 99.0, 99.9}) {
    percentiles.push_back(
        {{"Percentile", q}, {"Value", static_cast<double>(h.quantile(q / 100.0)) / 1e9}});
  }
  return {{"Count", h.count()},
          {"Min", static_cast<double>(h.min()) / 1e9},
          {"Max", static_cast<double>(h.max()) / 1e9},
          {"Avg", h.mean() / 1e9},
          {"StdDev", h.stddev() / 1e9},
          {"Percentiles", percentiles}};
}

std::string ms(uint64_t ns) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(3) << static_cast<double>(ns) / 1e6;
  return s.str();
}

} // namespace

int loadCommand(const LoadCommandOptions& options, std::ostream& out, std::ostream& err) {
  auto target = load::parseUrl(options.url);
  if (!target) {
    err << "meshproof load: " << target.status().message() << '\n';
    return kExitUsage;
  }
  load::LoadOptions lo;
  lo.target = *target;
  if (options.rate_given && !(options.rate > 0)) {
    err << "meshproof load: --rate must be a positive number of requests per second (omit it for "
           "the maximum rate)\n";
    return kExitUsage;
  }
  lo.rate = options.rate;
  if (options.connections < 1) {
    err << "meshproof load: --connections must be at least 1\n";
    return kExitUsage;
  }
  lo.connections = static_cast<uint32_t>(options.connections);
  if (!options.duration.empty() && options.requests != 0) {
    err << "meshproof load: give --duration or -n, not both\n";
    return kExitUsage;
  }
  if (options.requests < 0) {
    err << "meshproof load: -n must be at least 1\n";
    return kExitUsage;
  }
  if (options.requests > 0) {
    lo.requests = static_cast<uint64_t>(options.requests);
  } else {
    auto d = core::parseDuration(options.duration.empty() ? "10s" : options.duration);
    if (!d || *d <= core::Duration::zero()) {
      err << "meshproof load: --duration \"" << options.duration
          << "\" must be a positive duration such as 30s\n";
      return kExitUsage;
    }
    lo.duration = *d;
  }
  for (auto [text, field, name] : {std::tuple{&options.warmup, &lo.warmup, "--warmup"},
                                   std::tuple{&options.timeout, &lo.timeout, "--timeout"}}) {
    auto d = core::parseDuration(*text);
    if (!d || *d < core::Duration::zero() ||
        (std::string(name) == "--timeout" && *d == core::Duration::zero())) {
      err << "meshproof load: " << name << " \"" << *text << "\" is not a valid duration\n";
      return kExitUsage;
    }
    *field = *d;
  }
  const bool tty = ::isatty(STDERR_FILENO) != 0 && !options.json;
  if (tty) {
    lo.progress = [&err](uint64_t done, double seconds) {
      err << "\r" << done << " requests, " << std::fixed << std::setprecision(0) << seconds << " s"
          << std::flush;
    };
  }
  g_stop = false;
  std::signal(SIGINT, onSignal);
  auto result = load::runLoad(lo, core::RealClock::instance(), &g_stop);
  std::signal(SIGINT, SIG_DFL);
  if (tty) {
    err << "\r\033[K";
  }
  if (!result) {
    err << "meshproof load: " << result.status().message() << '\n';
    return kExitUsage;
  }
  const load::LoadResult& r = *result;
  if (options.json) {
    nlohmann::json codes = nlohmann::json::object();
    for (const auto& [code, n] : r.status_counts) {
      codes[code == 0 ? "-1" : std::to_string(code)] = n;
    }
    nlohmann::json j{{"RunType", "HTTP"},
                     {"URL", options.url},
                     {"StartTime", r.start_time},
                     {"RequestedQPS", r.intended_rate > 0 ? nlohmann::json(r.intended_rate)
                                                          : nlohmann::json("max")},
                     {"ActualQPS", r.achieved_rate},
                     {"ActualDuration", r.seconds},
                     {"NumThreads", r.connections},
                     {"DurationHistogram", histogramJson(r.latency)},
                     {"UncorrectedDurationHistogram", histogramJson(r.latency_uncorrected)},
                     {"RetCodes", codes},
                     {"Versions", r.versions},
                     {"Errors", r.errors},
                     {"LoadInvalid", r.load_invalid}};
    if (r.intended_rate > 0) { // not fortio's: how late the requests left, and those never sent
      j["SendLagHistogram"] = histogramJson(r.send_lag);
      j["Unsent"] = r.unsent;
    }
    out << j.dump(2) << '\n';
  } else {
    out << "target        " << options.url << '\n'
        << "mode          "
        << (r.intended_rate > 0 ? "open loop, " + std::to_string(r.intended_rate) + " req/s"
                                : std::string("closed loop (maximum rate)"))
        << ", " << r.connections << " connections\n"
        << "requests      " << r.requests << " in " << std::fixed << std::setprecision(2)
        << r.seconds << " s = " << std::setprecision(1) << r.achieved_rate << " req/s"
        << (r.load_invalid ? "  LOAD-INVALID (below 95 % of the intended rate)" : "") << '\n';
    if (r.intended_rate > 0) {
      out << "send lag ms   p50 " << ms(r.send_lag.quantile(0.5)) << ", p99 "
          << ms(r.send_lag.quantile(0.99)) << ", max " << ms(r.send_lag.max())
          << " behind the schedule; " << r.unsent << " never sent\n";
    }
    out << "latency ms    p50      p90      p99      p99.9    max\n";
    for (auto [name, h] :
         {std::pair{"corrected  ", &r.latency}, std::pair{"uncorrected", &r.latency_uncorrected}}) {
      out << "  " << name;
      for (double q : {0.5, 0.9, 0.99, 0.999}) {
        out << "  " << std::setw(7) << ms(h->quantile(q));
      }
      out << "  " << std::setw(7) << ms(h->max()) << '\n';
    }
    out << "status       ";
    for (const auto& [code, n] : r.status_counts) {
      out << " " << (code == 0 ? std::string("error") : std::to_string(code)) << ":" << n;
    }
    out << '\n';
    if (!r.versions.empty()) {
      out << "versions     ";
      for (const auto& [v, n] : r.versions) {
        out << " " << v << ":" << n;
      }
      out << '\n';
    }
  }
  return kExitOk;
}

} // namespace meshproof::cli
