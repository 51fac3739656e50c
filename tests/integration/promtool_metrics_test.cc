// The real promtool (Prometheus 2.42, Debian) reads what meshproof exposes. promtool's naming lint
// complains about exactly two things, both kept on purpose so that rules and dashboards written for
// Istio and Envoy apply unchanged: Istio's `_milliseconds` names (prometheus-grafana.md §3), and
// Envoy's counters, which Envoy's Prometheus endpoint names without `_total`
// (envoy_cluster_upstream_rq_retry, istio-envoy-semantics.md §3.5). Any other finding or a parse
// error fails. A broken exposition must fail (positive control).

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "meshproof/metrics/envoy_stats.h"
#include "meshproof/metrics/istio_metrics.h"

namespace meshproof::metrics {
namespace {

struct PromtoolRun {
  int status = -1;
  std::string output;
};

PromtoolRun promtoolCheck(const std::string& text) {
  char path[] = "/tmp/meshproof-metrics-XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << text;
  PromtoolRun run;
  const std::string cmd = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  if (pipe != nullptr) {
    std::array<char, 512> buf{};
    while (fgets(buf.data(), buf.size(), pipe) != nullptr) {
      run.output += buf.data();
    }
    const int st = pclose(pipe);
    run.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  ::unlink(path);
  return run;
}

TEST(Promtool, IsInstalled) {
  ASSERT_EQ(std::system("command -v promtool > /dev/null"), 0)
      << "promtool is missing: run scripts/install-deps.sh (Debian package prometheus)";
}

TEST(Promtool, AcceptsMeshproofsExposition) {
  Registry r;
  IstioMetrics istio(r);
  EnvoyClusterMetrics envoy(r);
  IstioLabels l;
  l.source_workload = "service-a-v1";
  l.response_code = "503";
  l.response_flags = "UF,URX";
  l.destination_service = "service-b \"quoted\"\nname"; // escaping must hold up
  istio.record(l, 12.5, 200, 90);
  l.reporter = "destination";
  l.connection_security_policy = "none";
  istio.record(l, 3, 200, 90);
  envoy.forCluster(outboundClusterName(80, "v1", "service-b")).ejections_active.set(1);
  const PromtoolRun run = promtoolCheck(r.expose());
  ASSERT_TRUE(run.status == 0 || run.status == 3) << run.status << "\n" << run.output;
  std::istringstream lines(run.output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) {
      continue;
    }
    const bool istio_unit =
        line.find("use base unit \"seconds\" instead of \"milliseconds\"") != std::string::npos;
    const bool envoy_counter =
        line.rfind("envoy_cluster_", 0) == 0 &&
        line.find("counter metrics should have \"_total\" suffix") != std::string::npos;
    EXPECT_TRUE(istio_unit || envoy_counter) << "unexpected promtool finding: " << line;
  }
}

TEST(Promtool, RejectsABrokenExposition) {
  Registry r;
  r.counter("ok_total", "fine").with(std::vector<std::string>{}).inc();
  std::string text = r.expose();
  text += "broken_total{a=\"b} 1\n";
  const PromtoolRun run = promtoolCheck(text);
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_NE(run.output.find("parsing error"), std::string::npos) << run.output;
}

} // namespace
} // namespace meshproof::metrics
