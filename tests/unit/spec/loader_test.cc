// Loading: the embedded default, Istio's defaults, apiVersions, documents meshproof skips, unknown
// and not-simulated fields, files and directories, and input that is not a spec at all.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "unit/spec/spec_test_util.h"

namespace meshproof::spec {
namespace {

using namespace std::chrono_literals;
using testing::defaultText;
using testing::dump;
using testing::find;
using testing::lineOf;
using testing::loadText;
using testing::replaceOnce;

TEST(Loader, DefaultSpecLoadsWithoutAnyDiagnostic) {
  LoadResult r = load({defaultSpecSource()});
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  EXPECT_TRUE(r.diagnostics.empty()) << dump(r.diagnostics);
}

TEST(Loader, DefaultSpecIsTheSprint6Plan) {
  LoadResult r = load({defaultSpecSource()});
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  const Spec& s = *r.spec;
  EXPECT_EQ(s.endpointCount("service-a", {}), 2u);
  EXPECT_EQ(s.endpointCount("service-b", {{"version", "v1"}}), 2u);
  EXPECT_EQ(s.endpointCount("service-b", {{"version", "v2"}}), 1u);
  EXPECT_EQ(s.endpointCount("service-c", {}), 2u);
  ASSERT_EQ(s.gateways.size(), 1u);
  EXPECT_EQ(s.gateways[0].host, "service-a");

  auto vs = s.virtualServicesFor("service-b");
  ASSERT_EQ(vs.size(), 1u);
  const HttpRoute& route = vs[0]->http[0];
  ASSERT_EQ(route.route.size(), 2u);
  EXPECT_EQ(route.route[0].destination.subset, "v1");
  EXPECT_EQ(route.route[0].weight, 90);
  EXPECT_EQ(route.route[1].destination.subset, "v2");
  EXPECT_EQ(route.route[1].weight, 10);
  EXPECT_EQ(route.retries.num_retries, 3u);
  EXPECT_EQ(route.retries.per_try_timeout, 2s);
  EXPECT_TRUE(route.retries.has(RetryOn::Http5xx));
  EXPECT_TRUE(route.retries.has(RetryOn::Reset));
  EXPECT_TRUE(route.retries.has(RetryOn::ConnectFailure));
  EXPECT_GT(*route.timeout, 4 * 2s); // every attempt fits in the route timeout

  const DestinationRule* dr = s.destinationRuleFor("service-b");
  ASSERT_NE(dr, nullptr);
  for (const Subset& subset : dr->subsets) {
    ASSERT_TRUE(subset.traffic_policy.outlier_detection) << subset.name;
    EXPECT_EQ(subset.traffic_policy.outlier_detection->consecutive_5xx_errors, 5u);
    // The cap can eject at least one pod of each subset.
    const uint32_t n = s.endpointCount("service-b", subset.labels);
    EXPECT_GE(n * subset.traffic_policy.outlier_detection->max_ejection_percent / 100, 1u)
        << subset.name;
  }

  ASSERT_TRUE(s.sprint);
  EXPECT_EQ(s.sprint->name, "sprint6");
  EXPECT_EQ(s.sprint->chaos_interval, 4h);
  EXPECT_EQ(s.sprint->chaos_concurrency, "Forbid");
  EXPECT_EQ(s.sprint->report_interval, 12h);
  int latency = 0;
  int kills = 0;
  for (const ChaosExperiment& e : s.sprint->experiments) {
    (e.type == ChaosExperiment::Type::Latency ? latency : kills)++;
  }
  EXPECT_EQ(latency, 3);
  EXPECT_EQ(kills, 1);
  ASSERT_EQ(s.sprint->dashboards.size(), 1u);
  EXPECT_EQ(s.sprint->dashboards[0].service, "service-c");
}

TEST(Loader, IstioDefaultsApplyWhenFieldsAreUnset) {
  const std::string text = R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc}
spec:
  hosts: [svc]
  http:
    - route:
        - destination: {host: svc}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc}
spec:
  host: svc
  trafficPolicy:
    outlierDetection: {consecutiveGatewayErrors: 10}
    connectionPool: {tcp: {maxConnections: 0}}
---
apiVersion: meshproof.dev/v1alpha1
kind: Workload
metadata: {name: svc}
spec: {app: svc}
)";
  LoadResult r = loadText(text);
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  const HttpRoute& route = r.spec->virtual_services[0].http[0];
  // §1.4: Istio's default retry policy, without 503 since 1.24.
  EXPECT_TRUE(route.retries.enabled);
  EXPECT_TRUE(route.retries.from_default);
  EXPECT_EQ(route.retries.num_retries, 2u);
  EXPECT_TRUE(route.retries.has(RetryOn::ConnectFailure));
  EXPECT_TRUE(route.retries.has(RetryOn::RefusedStream));
  EXPECT_FALSE(route.retries.has(RetryOn::Http5xx));
  EXPECT_TRUE(route.retries.retriable_status_codes.empty());
  EXPECT_EQ(route.retries.backoff_base, 25ms);
  EXPECT_FALSE(route.timeout); // §1.3: no timeout by default
  const auto& od = *r.spec->destination_rules[0].traffic_policy.outlier_detection;
  EXPECT_EQ(od.consecutive_5xx_errors, 5u); // §2.2: still on when only gateway errors are set
  EXPECT_EQ(od.consecutive_gateway_errors, 10u);
  EXPECT_EQ(od.interval, 10s);
  EXPECT_EQ(od.base_ejection_time, 30s);
  EXPECT_EQ(od.max_ejection_percent, 10u);
  EXPECT_EQ(od.min_health_percent, 0u);
  const auto& cp = *r.spec->destination_rules[0].traffic_policy.connection_pool;
  EXPECT_EQ(cp.max_connections, kUnlimited); // an explicit 0 equals unset
  EXPECT_EQ(cp.max_retries, kUnlimited);
  EXPECT_EQ(cp.connect_timeout, 10s);
}

TEST(Loader, MaxEjectionPercentZeroMeansEnvoysDefault) {
  const std::string text =
      replaceOnce(defaultText(), "maxEjectionPercent: 50", "maxEjectionPercent: 0");
  LoadResult r = loadText(text);
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  EXPECT_EQ(r.spec->destination_rules[0].traffic_policy.outlier_detection->max_ejection_percent,
            10u);
}

TEST(Loader, RetryOnStatusCodesBecomeRetriableStatusCodes) {
  const std::string text =
      replaceOnce(defaultText(), "retryOn: 5xx,reset,connect-failure", "retryOn: 503,reset");
  LoadResult r = loadText(text);
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  const RetryPolicy& p = r.spec->virtual_services[0].http[0].retries;
  EXPECT_TRUE(p.has(RetryOn::RetriableStatusCodes));
  EXPECT_TRUE(p.has(RetryOn::Reset));
  EXPECT_FALSE(p.has(RetryOn::Http5xx));
  EXPECT_EQ(p.retriable_status_codes, std::vector<uint32_t>{503});
}

TEST(Loader, AttemptsZeroDisablesRetries) {
  std::string text = replaceOnce(defaultText(),
                                 "      retries:\n        attempts: 3\n        perTryTimeout: 2s\n"
                                 "        retryOn: 5xx,reset,connect-failure\n",
                                 "      retries:\n        attempts: 0\n");
  LoadResult r = loadText(text);
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  EXPECT_FALSE(r.spec->virtual_services[0].http[0].retries.enabled);
}

TEST(Loader, SubsetPolicyReplacesWholeBlocks) {
  LoadResult r = load({defaultSpecSource()});
  ASSERT_TRUE(r.ok());
  const DestinationRule& dr = r.spec->destination_rules[0];
  // v1 inherits the top-level block; v2's own block replaces it entirely (DRM.go).
  EXPECT_EQ(dr.findSubset("v1")->traffic_policy.outlier_detection->max_ejection_percent, 50u);
  EXPECT_EQ(dr.findSubset("v2")->traffic_policy.outlier_detection->max_ejection_percent, 100u);
}

TEST(Loader, AllIstioApiVersionsAreRead) {
  for (const char* version : {"v1", "v1beta1", "v1alpha3"}) {
    const std::string text = replaceOnce(
        defaultText(), "apiVersion: networking.istio.io/v1\nkind: VirtualService",
        std::string("apiVersion: networking.istio.io/") + version + "\nkind: VirtualService");
    LoadResult r = loadText(text);
    ASSERT_TRUE(r.ok()) << version << "\n" << dump(r.diagnostics);
    EXPECT_EQ(r.spec->virtual_services[0].meta.api_version,
              std::string("networking.istio.io/") + version);
  }
}

TEST(Loader, UnsupportedIstioApiVersionIsAnError) {
  const std::string text =
      replaceOnce(defaultText(), "apiVersion: networking.istio.io/v1\nkind: VirtualService",
                  "apiVersion: networking.istio.io/v2\nkind: VirtualService");
  LoadResult r = loadText(text);
  EXPECT_FALSE(r.ok());
  const Diagnostic* d = find(r.diagnostics, Severity::Error, "apiVersion");
  ASSERT_NE(d, nullptr) << dump(r.diagnostics);
  EXPECT_EQ(d->location.line, lineOf(text, "networking.istio.io/v2"));
}

TEST(Loader, KindsMeshproofDoesNotUseAreSkippedWithANote) {
  const std::string text = defaultText() + R"(---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public-gw}
spec: {selector: {istio: ingressgateway}, servers: []}
---
apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: {name: default}
spec: {}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: service-a}
spec: {replicas: 2}
---
apiVersion: v1
kind: Service
metadata: {name: service-a}
)";
  LoadResult r = loadText(text);
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  std::vector<std::string> skipped;
  for (const Diagnostic& d : r.diagnostics) {
    EXPECT_EQ(d.severity, Severity::Note) << d.format();
    skipped.push_back(d.object);
  }
  EXPECT_EQ(skipped, (std::vector<std::string>{"Gateway/public-gw", "Sidecar/default",
                                               "Deployment/service-a", "Service/service-a"}));
  EXPECT_NE(r.diagnostics[0].message.find("meshproof.dev/v1alpha1"), std::string::npos);
}

TEST(Loader, UnknownFieldIsWarnedWithASuggestion) {
  const std::string text =
      replaceOnce(defaultText(), "      timeout: 10s\n", "      timeout: 10s\n      retires: {}\n");
  LoadResult r = loadText(text);
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  const Diagnostic* d = find(r.diagnostics, Severity::Warning, "spec.http[0].retires");
  ASSERT_NE(d, nullptr) << dump(r.diagnostics);
  EXPECT_EQ(d->location.line, lineOf(text, "retires:"));
  EXPECT_NE(d->message.find("unknown field"), std::string::npos);
  EXPECT_NE(d->message.find("did you mean \"retries\""), std::string::npos);
}

TEST(Loader, IstioSettingsNotSimulatedAreAcceptedWithAWarning) {
  std::string text = replaceOnce(defaultText(), "      timeout: 10s\n",
                                 "      timeout: 10s\n      mirror: {host: service-c}\n");
  text = replaceOnce(text, "  trafficPolicy:\n    outlierDetection:",
                     "  trafficPolicy:\n    tls: {mode: ISTIO_MUTUAL}\n    outlierDetection:");
  text = replaceOnce(
      text, "  hosts:\n    - service-b\n",
      "  hosts:\n    - service-b\n  tcp:\n    - route: [{destination: {host: service-b}}]\n");
  // A field Istio has that meshproof does not single out.
  text = replaceOnce(text, "      retries:\n        attempts: 3\n",
                     "      retries:\n        attempts: 3\n        retryRemoteLocalities: true\n");
  text = replaceOnce(text, "      timeout: 10s\n", "      timeout: 10s\n      rewrite: {uri: /}\n");
  LoadResult r = loadText(text);
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  for (const char* path :
       {"spec.http[0].mirror", "spec.trafficPolicy.tls", "spec.tcp", "spec.http[0].rewrite"}) {
    const Diagnostic* d = find(r.diagnostics, Severity::Warning, path);
    ASSERT_NE(d, nullptr) << path << "\n" << dump(r.diagnostics);
    EXPECT_NE(d->message.find("not simulated"), std::string::npos) << d->format();
  }
}

TEST(Loader, GenericIstioFieldIsRecognisedFromTheCrdSchema) {
  // `exportTo` on a route destination does not exist; `exportTo` on the VirtualService does.
  const std::string text =
      replaceOnce(defaultText(), "  hosts:\n    - service-b\n",
                  "  hosts:\n    - service-b\n  exportTo: [\".\"]\n  exportsTo: []\n");
  LoadResult r = loadText(text);
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  EXPECT_NE(find(r.diagnostics, Severity::Warning, "spec.exportTo")->message.find("not simulated"),
            std::string::npos);
  EXPECT_NE(find(r.diagnostics, Severity::Warning, "spec.exportsTo")->message.find("unknown field"),
            std::string::npos);
}

TEST(Loader, DeprecatedConsecutiveErrorsIsWarnedAsIgnored) {
  const std::string text =
      replaceOnce(defaultText(),
                  "      consecutive5xxErrors: 5\n      interval: 5s\n      baseEjectionTime: "
                  "30s\n      maxEjectionPercent: 50",
                  "      consecutive5xxErrors: 5\n      consecutiveErrors: 3\n      interval: 5s\n "
                  "     baseEjectionTime: 30s\n      maxEjectionPercent: 50");
  LoadResult r = loadText(text);
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  const Diagnostic* d = find(r.diagnostics, Severity::Warning,
                             "spec.trafficPolicy.outlierDetection.consecutiveErrors");
  ASSERT_NE(d, nullptr) << dump(r.diagnostics);
  EXPECT_NE(d->message.find("ignored since Istio 1.7"), std::string::npos);
}

TEST(Loader, EmptyFileIsAnError) {
  for (const char* text : {"", "\n\n# only a comment\n", "---\n---\n"}) {
    LoadResult r = loadText(text);
    EXPECT_FALSE(r.ok()) << "text: " << text;
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_EQ(r.diagnostics[0].location.file, testing::kTestFile);
    EXPECT_NE(r.diagnostics[0].message.find("empty spec file"), std::string::npos);
  }
}

TEST(Loader, BinaryGarbageIsAnError) {
  std::string garbage = "apiVersion: v1\n\x7f"
                        "ELF\x02\x01\x01";
  garbage.push_back('\0');
  garbage += "\xff\xfe junk";
  LoadResult r = loadText(garbage);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].location.line, 2);
  EXPECT_NE(r.diagnostics[0].message.find("not a YAML text file"), std::string::npos);
  // Invalid UTF-8 without NUL bytes as well.
  LoadResult r2 = loadText("kind: \xc3\x28\n");
  EXPECT_FALSE(r2.ok());
  EXPECT_NE(r2.diagnostics[0].message.find("invalid UTF-8"), std::string::npos);
}

TEST(Loader, YamlSyntaxErrorNamesTheLine) {
  const std::string text =
      replaceOnce(defaultText(), "      labels: {version: v1}\n", "      labels: {version: v1\n");
  LoadResult r = loadText(text);
  EXPECT_FALSE(r.ok());
  ASSERT_FALSE(r.diagnostics.empty());
  const Diagnostic& d = r.diagnostics[0];
  EXPECT_NE(d.message.find("YAML syntax error"), std::string::npos) << d.format();
  // yaml-cpp notices the unclosed flow mapping on the next line at the latest.
  EXPECT_GE(d.location.line, lineOf(text, "labels: {version: v1\n"));
  EXPECT_LE(d.location.line, lineOf(text, "labels: {version: v1\n") + 1);
}

TEST(Loader, StrayCommaIsASyntaxErrorNotAHang) {
  // yaml-cpp 0.7 alone allocates without end on this; the libyaml pre-check reports it.
  const std::string text = "apiVersion: v1\nkind: X\n---\n,\n";
  LoadResult r = loadText(text);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.diagnostics.size(), 1u) << dump(r.diagnostics);
  EXPECT_EQ(r.diagnostics[0].location.line, 4);
  EXPECT_NE(r.diagnostics[0].message.find("YAML syntax error"), std::string::npos);
}

TEST(Loader, DocumentThatIsNotAnObjectIsAnError) {
  LoadResult r = loadText("just a string\n");
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_NE(r.diagnostics[0].message.find("apiVersion, kind, metadata and spec"),
            std::string::npos);
  EXPECT_EQ(r.diagnostics[0].location.line, 1);
}

TEST(Loader, MissingMetadataAndSpecAreErrors) {
  LoadResult r = loadText("apiVersion: meshproof.dev/v1alpha1\nkind: Workload\n");
  EXPECT_FALSE(r.ok());
  EXPECT_NE(find(r.diagnostics, Severity::Error, "metadata"), nullptr) << dump(r.diagnostics);
  EXPECT_NE(find(r.diagnostics, Severity::Error, "spec"), nullptr) << dump(r.diagnostics);
}

TEST(Loader, UnknownMeshproofKindIsAnError) {
  LoadResult r =
      loadText("apiVersion: meshproof.dev/v1alpha1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n");
  EXPECT_FALSE(r.ok());
  const Diagnostic* d = find(r.diagnostics, Severity::Error, "kind");
  ASSERT_NE(d, nullptr) << dump(r.diagnostics);
  EXPECT_EQ(d->location.line, 2);
}

class SpecFiles : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("meshproof-spec-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }
  std::filesystem::path dir_;
};

// Splits the default spec so that Istio objects and meshproof kinds live in separate files.
std::pair<std::string, std::string> splitDefault() {
  const std::string text = defaultText();
  const size_t vs = text.find("# The canary");
  const size_t sprint = text.find("apiVersion: meshproof.dev/v1alpha1\nkind: Sprint");
  std::string istio = text.substr(vs, sprint - vs);
  std::string ours = text.substr(0, vs) + text.substr(sprint);
  return {istio, ours};
}

TEST_F(SpecFiles, ObjectsReferToEachOtherAcrossFiles) {
  auto [istio, ours] = splitDefault();
  const std::string a = write("istio.yaml", istio);
  const std::string b = write("local.yaml", ours);
  auto sources = readSpecPaths({a, b});
  ASSERT_TRUE(sources) << sources.status().message();
  LoadResult r = load(*sources);
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  EXPECT_EQ(r.spec->workloads.size(), 4u);
  EXPECT_EQ(r.spec->virtual_services.size(), 1u);
}

TEST_F(SpecFiles, DirectoryIsReadInNameOrderAndErrorsNameTheirFile) {
  auto [istio, ours] = splitDefault();
  write("20-istio.yaml", replaceOnce(istio, "weight: 10\n", "weight: -1\n"));
  write("10-local.yml", ours);
  write("README.md", "not yaml at all: [");
  auto sources = readSpecPaths({dir_.string()});
  ASSERT_TRUE(sources) << sources.status().message();
  ASSERT_EQ(sources->size(), 2u);
  EXPECT_NE(sources->at(0).name.find("10-local.yml"), std::string::npos);
  LoadResult r = load(*sources);
  const Diagnostic* d = find(r.diagnostics, Severity::Error, "spec.http[0].route[1].weight");
  ASSERT_NE(d, nullptr) << dump(r.diagnostics);
  EXPECT_NE(d->location.file.find("20-istio.yaml"), std::string::npos);
}

TEST_F(SpecFiles, MissingPathAndEmptyDirectoryAreErrors) {
  auto missing = readSpecPaths({(dir_ / "nope.yaml").string()});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.status().message().find("nope.yaml: no such file"), std::string::npos);
  auto empty = readSpecPaths({dir_.string()});
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.status().message().find("no .yaml"), std::string::npos);
}

} // namespace
} // namespace meshproof::spec

namespace meshproof::spec {
namespace {

using testing::defaultText;
using testing::dump;
using testing::lineOf;
using testing::loadText;
using testing::replaceOnce;

TEST(Loader, ChaosCronIsReadAndABadOneNamesItsLine) {
  const std::string good = replaceOnce(defaultText(), "      interval: 4h\n",
                                       "      interval: 4h\n      cron: \"0 */4 * * *\"\n");
  LoadResult r = loadText(good);
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  EXPECT_EQ(r.spec->sprint->chaos_cron, "0 */4 * * *");
  const std::string bad = replaceOnce(defaultText(), "      interval: 4h\n",
                                      "      interval: 4h\n      cron: \"0 25 * * *\"\n");
  r = loadText(bad);
  EXPECT_FALSE(r.ok());
  bool found = false;
  for (const Diagnostic& d : r.diagnostics) {
    if (d.severity == Severity::Error && d.message.find("hour") != std::string::npos) {
      found = true;
      EXPECT_EQ(d.location.line, lineOf(bad, "cron:"));
    }
  }
  EXPECT_TRUE(found) << dump(r.diagnostics);
}

} // namespace
} // namespace meshproof::spec
