#include "meshproof/metrics/metrics.h"

#include <gtest/gtest.h>

#include <thread>

#include "meshproof/metrics/envoy_stats.h"
#include "meshproof/metrics/exposition.h"
#include "meshproof/metrics/istio_metrics.h"

namespace meshproof::metrics {
namespace {

TEST(Histogram, BucketsFollowLeSemantics) {
  Registry r;
  Histogram& h = r.histogram("d_ms", "d", {}).with(std::vector<std::string>{});
  h.observe(7);       // §6 case 39: a 7 ms request lands in le="10"
  h.observe(10);      // equal to a bound counts in that bucket
  h.observe(10.0001); // just above goes to the next
  h.observe(0.1);
  h.observe(5000000); // above the largest bound: only +Inf
  const Histogram::Snapshot s = h.snapshot();
  ASSERT_EQ(s.bounds, envoyDefaultBuckets());
  ASSERT_EQ(s.bounds.size(), 19u);
  auto cumulativeAt = [&](double bound) {
    for (size_t i = 0; i < s.bounds.size(); ++i) {
      if (s.bounds[i] == bound) {
        return s.cumulative[i];
      }
    }
    return uint64_t{999};
  };
  EXPECT_EQ(cumulativeAt(0.5), 1u);
  EXPECT_EQ(cumulativeAt(5), 1u);
  EXPECT_EQ(cumulativeAt(10), 3u);
  EXPECT_EQ(cumulativeAt(25), 4u);
  EXPECT_EQ(cumulativeAt(3600000), 4u);
  EXPECT_EQ(s.cumulative.back(), 5u);
  EXPECT_EQ(s.count, 5u);
  EXPECT_DOUBLE_EQ(s.sum, 7 + 10 + 10.0001 + 0.1 + 5000000);
}

TEST(Family, SameValuesSameChild) {
  Registry r;
  auto& f = r.counter("requests_total", "n", {"code"});
  Counter& a = f.with({"200"});
  Counter& b = f.with({"200"});
  Counter& c = f.with({"503"});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  a.inc();
  b.inc(2);
  EXPECT_EQ(f.with({"200"}).value(), 3u);
  EXPECT_EQ(c.value(), 0u);
  // Registering the same name again returns the same family.
  EXPECT_EQ(&r.counter("requests_total", "n", {"code"}), &f);
}

TEST(Family, ConcurrentUpdatesAreExact) {
  Registry r;
  auto& counters = r.counter("hits_total", "n", {"worker"});
  auto& hist = r.histogram("lat_ms", "l", {});
  auto& gauge = r.gauge("level", "g", {});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50000; ++i) {
        counters.with({"all"}).inc();
        counters.with({std::to_string(t)}).inc();
        hist.with(std::vector<std::string>{}).observe(i % 100);
        gauge.with(std::vector<std::string>{}).add(1);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(counters.with({"all"}).value(), 200000u);
  EXPECT_EQ(counters.with({"3"}).value(), 50000u);
  EXPECT_EQ(hist.with(std::vector<std::string>{}).snapshot().count, 200000u);
  EXPECT_DOUBLE_EQ(gauge.with(std::vector<std::string>{}).value(), 200000.0);
}

TEST(Registry, ExposesTextFormat004) {
  Registry r;
  r.counter("mesh_requests_total", "Requests\nby code", {"code", "path"})
      .with({"200", "C:\\dir \"x\"\nnext"})
      .inc(3);
  r.gauge("mesh_temperature", "A gauge").with(std::vector<std::string>{}).set(-1.5);
  auto& h = r.histogram("mesh_size_bytes", "Sizes", {"svc"}, {1, 10});
  h.with({"a"}).observe(0.5);
  h.with({"a"}).observe(5);
  h.with({"a"}).observe(50);
  const std::string expected =
      "# HELP mesh_requests_total Requests\\nby code\n"
      "# TYPE mesh_requests_total counter\n"
      "mesh_requests_total{code=\"200\",path=\"C:\\\\dir \\\"x\\\"\\nnext\"} 3\n"
      "# HELP mesh_temperature A gauge\n"
      "# TYPE mesh_temperature gauge\n"
      "mesh_temperature -1.5\n"
      "# HELP mesh_size_bytes Sizes\n"
      "# TYPE mesh_size_bytes histogram\n"
      "mesh_size_bytes_bucket{svc=\"a\",le=\"1\"} 1\n"
      "mesh_size_bytes_bucket{svc=\"a\",le=\"10\"} 2\n"
      "mesh_size_bytes_bucket{svc=\"a\",le=\"+Inf\"} 3\n"
      "mesh_size_bytes_sum{svc=\"a\"} 55.5\n"
      "mesh_size_bytes_count{svc=\"a\"} 3\n";
  EXPECT_EQ(r.expose(), expected);
}

TEST(Registry, ExpositionParsesBackToTheSameValues) {
  Registry r;
  r.counter("a_total", "h", {"v"}).with({"quote\" back\\slash\nnewline"}).inc(7);
  r.histogram("b_ms", "h", {"x"}).with({"1"}).observe(42);
  auto parsed = parseExposition(r.expose());
  ASSERT_TRUE(parsed) << parsed.status().message();
  EXPECT_EQ(parsed->sum("a_total", {{"v", "quote\" back\\slash\nnewline"}}), 7);
  EXPECT_EQ(parsed->sum("b_ms_bucket", {{"le", "50"}}), 1);
  EXPECT_EQ(parsed->sum("b_ms_bucket", {{"le", "25"}}), 0);
  EXPECT_EQ(parsed->types.at("b_ms"), "histogram");
  EXPECT_TRUE(checkHistograms(*parsed).isOk());
}

TEST(FormatValue, GoStyle) {
  EXPECT_EQ(formatValue(3), "3");
  EXPECT_EQ(formatValue(0.5), "0.5");
  EXPECT_EQ(formatValue(1e21), "1e+21");
  EXPECT_EQ(formatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(formatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(formatValue(0.0 / 0.0), "NaN");
}

TEST(IstioMetrics, RecordsWithIstiosNamesAndLabels) {
  Registry r;
  IstioMetrics istio(r);
  IstioLabels l;
  l.reporter = "source";
  l.source_workload = "service-a-v1";
  l.source_app = "service-a";
  l.destination_service = "service-b.default.svc.cluster.local";
  l.destination_service_name = "service-b";
  l.destination_version = "v2";
  l.response_code = "200";
  istio.record(l, 7, 120, 640);
  istio.record(l, 30, 120, 640);
  const std::string text = r.expose();
  auto parsed = parseExposition(text);
  ASSERT_TRUE(parsed) << parsed.status().message();
  EXPECT_EQ(
      parsed->sum("istio_requests_total", {{"reporter", "source"}, {"destination_version", "v2"}}),
      2);
  EXPECT_EQ(parsed->sum("istio_request_duration_milliseconds_bucket", {{"le", "10"}}), 1);
  EXPECT_EQ(parsed->sum("istio_request_duration_milliseconds_count"), 2);
  EXPECT_EQ(parsed->sum("istio_response_bytes_sum"), 1280);
  // Client side: connection_security_policy is always unknown; canonical revision defaults to
  // latest.
  const auto samples = parsed->select("istio_requests_total");
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0]->labels.at("connection_security_policy"), "unknown");
  EXPECT_EQ(samples[0]->labels.at("destination_canonical_revision"), "latest");
  EXPECT_EQ(samples[0]->labels.at("response_flags"), "-");
  EXPECT_EQ(samples[0]->labels.size(), 25u);
  // Labels appear in Istio's emitted order.
  const size_t line_start = text.find("\nistio_requests_total{") + 1;
  EXPECT_EQ(text.compare(line_start, 48, "istio_requests_total{reporter=\"source\",source_wo"), 0);
  EXPECT_TRUE(checkHistograms(*parsed).isOk());
}

TEST(EnvoyClusterMetrics, NamesFollowEnvoysPrometheusForm) {
  Registry r;
  EnvoyClusterMetrics envoy(r);
  const std::string cluster = outboundClusterName(9080, "v1", "reviews.default.svc.cluster.local");
  EXPECT_EQ(cluster, "outbound|9080|v1|reviews.default.svc.cluster.local");
  EXPECT_EQ(outboundClusterName(80, "", "h"), "outbound|80||h");
  ClusterStats& s = envoy.forCluster(cluster);
  EXPECT_EQ(&envoy.forCluster(cluster), &s);
  s.ejections_active.set(1);
  s.upstream_rq_retry.inc(3);
  s.cb_rq_pending_open.set(1);
  auto parsed = parseExposition(r.expose());
  ASSERT_TRUE(parsed) << parsed.status().message();
  EXPECT_EQ(
      parsed->sum("envoy_cluster_outlier_detection_ejections_active", {{"cluster_name", cluster}}),
      1);
  EXPECT_EQ(parsed->sum("envoy_cluster_upstream_rq_retry", {{"cluster_name", cluster}}), 3);
  EXPECT_EQ(parsed->sum("envoy_cluster_circuit_breakers_default_rq_pending_open"), 1);
  EXPECT_EQ(parsed->types.at("envoy_cluster_upstream_rq_retry"), "counter");
}

} // namespace
} // namespace meshproof::metrics
