// Istio's validation rules (istio-envoy-semantics.md §1-2, §6 case 13): each bad value is rejected
// with its file, line and field path. Most cases mutate the embedded default spec, so every test
// also proves that the rule fires inside a realistic document.

#include <gtest/gtest.h>

#include "unit/spec/spec_test_util.h"

namespace meshproof::spec {
namespace {

using testing::defaultText;
using testing::dump;
using testing::find;
using testing::lineOf;
using testing::loadText;
using testing::replaceOnce;

// Loads `text`; expects it to fail with an error at `path` on the line where `anchor` first occurs,
// whose message contains `message`.
void expectError(const std::string& text, std::string_view path, std::string_view anchor,
                 std::string_view message) {
  LoadResult r = loadText(text);
  EXPECT_FALSE(r.ok());
  const Diagnostic* d = find(r.diagnostics, Severity::Error, path);
  ASSERT_NE(d, nullptr) << "no error at " << path << "\n" << dump(r.diagnostics);
  EXPECT_EQ(d->location.file, testing::kTestFile);
  EXPECT_EQ(d->location.line, lineOf(text, anchor)) << d->format();
  EXPECT_GT(d->location.column, 0) << d->format();
  EXPECT_NE(d->message.find(message), std::string::npos) << d->format();
  // The formatted line carries all of it, as a user sees it.
  const std::string line = d->format();
  EXPECT_NE(line.find(std::string(testing::kTestFile) + ":" + std::to_string(d->location.line)),
            std::string::npos)
      << line;
  EXPECT_NE(line.find(std::string(path)), std::string::npos) << line;
}

const std::string kVsPath = "spec.http[0]";

TEST(Validation, SameAppAndVersionNeedOtherLabels) {
  const std::string copy = R"(---
apiVersion: meshproof.dev/v1alpha1
kind: Workload
metadata:
  name: service-b-v2-copy
spec:
  app: service-b
  version: v2
)";
  // A second Workload of service-b v2 with the same labels is a copied document.
  LoadResult r = loadText(defaultText() + copy);
  const Diagnostic* d = find(r.diagnostics, Severity::Error, "spec.version");
  ASSERT_NE(d, nullptr) << dump(r.diagnostics);
  EXPECT_NE(d->message.find("with the same labels"), std::string::npos) << d->message;
  // With other pod labels it is another Deployment of the same build: valid.
  EXPECT_TRUE(loadText(defaultText() + copy + "  labels: {version: v1}\n").ok());
  EXPECT_TRUE(loadText(defaultText() + copy + "  labels: {track: hotfix}\n").ok());
}

TEST(Validation, NegativeWeight) {
  const std::string text = replaceOnce(defaultText(), "weight: 10\n", "weight: -10\n");
  expectError(text, "spec.http[0].route[1].weight", "weight: -10", "must not be negative");
  LoadResult r = loadText(text);
  EXPECT_NE(find(r.diagnostics, Severity::Error, "spec.http[0].route[1].weight")
                ->format()
                .find("VirtualService/service-b spec.http[0].route[1].weight"),
            std::string::npos);
}

TEST(Validation, ZeroTotalWeightWithSeveralDestinations) {
  std::string text = replaceOnce(defaultText(), "weight: 90\n", "weight: 0\n");
  text = replaceOnce(text, "weight: 10\n", "weight: 0\n");
  // The error points at the route list of the first rule, which starts at its first item.
  expectError(text, "spec.http[0].route", "- destination: {host: service-b, subset: v1}",
              "total destination weight = 0");
}

TEST(Validation, SingleDestinationWithWeightZeroIsValid) {
  // A single destination takes all traffic whatever its weight (§1.2).
  const std::string text = replaceOnce(defaultText(),
                                       "        - destination: {host: service-b, subset: v1}\n"
                                       "          weight: 90\n"
                                       "        - destination: {host: service-b, subset: v2}\n"
                                       "          weight: 10\n",
                                       "        - destination: {host: service-b, subset: v1}\n"
                                       "          weight: 0\n");
  LoadResult r = loadText(text);
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  EXPECT_EQ(r.spec->virtual_services[0].http[0].route.size(), 1u);
}

TEST(Validation, WeightsNeedNotSumTo100) {
  std::string text = replaceOnce(defaultText(), "weight: 90\n", "weight: 1\n");
  text = replaceOnce(text, "weight: 10\n", "weight: 3\n");
  LoadResult r = loadText(text);
  ASSERT_TRUE(r.ok()) << dump(r.diagnostics);
  EXPECT_EQ(r.spec->virtual_services[0].http[0].route[1].weight, 3);
}

TEST(Validation, UnknownRetryOnToken) {
  const std::string text =
      replaceOnce(defaultText(), "retryOn: 5xx,reset,connect-failure", "retryOn: 5xx,foo");
  expectError(text, "spec.http[0].retries.retryOn", "retryOn: 5xx,foo",
              "\"foo\" is not a valid retryOn policy");
}

TEST(Validation, RetryOnWithSpaceAfterCommaIsRejected) {
  const std::string text =
      replaceOnce(defaultText(), "retryOn: 5xx,reset,connect-failure", "retryOn: \"5xx, reset\"");
  expectError(text, "spec.http[0].retries.retryOn", "retryOn: \"5xx, reset\"", "without trimming");
}

TEST(Validation, BadDurationSyntax) {
  const std::string text =
      replaceOnce(defaultText(), "perTryTimeout: 2s", "perTryTimeout: 2 seconds");
  expectError(text, "spec.http[0].retries.perTryTimeout", "perTryTimeout: 2 seconds",
              "invalid duration");
}

TEST(Validation, TimeoutZeroIsRejected) {
  const std::string text = replaceOnce(defaultText(), "timeout: 10s", "timeout: 0s");
  expectError(text, "spec.http[0].timeout", "timeout: 0s", "at least 1ms");
}

TEST(Validation, PerTryTimeoutBelowOneMillisecondIsRejected) {
  const std::string text = replaceOnce(defaultText(), "perTryTimeout: 2s", "perTryTimeout: 0.5ms");
  expectError(text, "spec.http[0].retries.perTryTimeout", "perTryTimeout: 0.5ms", "at least 1ms");
}

TEST(Validation, SubMillisecondPrecisionIsRejected) {
  const std::string text = replaceOnce(defaultText(), "perTryTimeout: 2s", "perTryTimeout: 1.5ms");
  expectError(text, "spec.http[0].retries.perTryTimeout", "perTryTimeout: 1.5ms",
              "millisecond precision");
}

TEST(Validation, AttemptsZeroWithRetryOnIsRejected) {
  const std::string text = replaceOnce(defaultText(), "attempts: 3", "attempts: 0");
  expectError(text, "spec.http[0].retries.attempts", "attempts: 0", "attempts is 0");
  LoadResult r = loadText(text);
  const Diagnostic* d = find(r.diagnostics, Severity::Error, "spec.http[0].retries.attempts");
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->message.find("perTryTimeout"), std::string::npos);
  EXPECT_NE(d->message.find("retryOn"), std::string::npos);
}

TEST(Validation, NegativeAttemptsIsRejected) {
  const std::string text = replaceOnce(defaultText(), "attempts: 3", "attempts: -1");
  expectError(text, "spec.http[0].retries.attempts", "attempts: -1", "must not be negative");
}

TEST(Validation, WrongTypeIsRejected) {
  const std::string text = replaceOnce(defaultText(), "attempts: 3", "attempts: three");
  expectError(text, "spec.http[0].retries.attempts", "attempts: three", "expected an integer");
}

TEST(Validation, QuotedNumberIsAWrongType) {
  const std::string text = replaceOnce(defaultText(), "weight: 90\n", "weight: \"90\"\n");
  expectError(text, "spec.http[0].route[0].weight", "weight: \"90\"", "expected an integer");
}

TEST(Validation, ListExpectedButScalarGiven) {
  const std::string text =
      replaceOnce(defaultText(), "  hosts:\n    - service-b\n", "  hosts: service-b\n");
  expectError(text, "spec.hosts", "hosts: service-b", "expected a list");
}

TEST(Validation, MissingRequiredField) {
  const std::string text = replaceOnce(
      defaultText(), "- destination: {host: service-b, subset: v2}", "- destination: {subset: v2}");
  expectError(text, "spec.http[0].route[1].destination.host", "destination: {subset: v2}",
              "missing required field \"host\"");
}

TEST(Validation, UnknownSubsetIsRejected) {
  const std::string text =
      replaceOnce(defaultText(), "{host: service-b, subset: v2}", "{host: service-b, subset: v3}");
  expectError(text, "spec.http[0].route[1].destination.subset", "subset: v3",
              "unknown subset \"v3\"");
  LoadResult r = loadText(text);
  EXPECT_NE(dump(r.diagnostics).find("defines v1, v2"), std::string::npos) << dump(r.diagnostics);
}

TEST(Validation, DuplicateNamesAreRejected) {
  const std::string text = replaceOnce(defaultText(), "metadata:\n  name: service-b-v2\n",
                                       "metadata:\n  name: service-b-v1\n");
  LoadResult r = loadText(text);
  EXPECT_FALSE(r.ok());
  const Diagnostic* d = find(r.diagnostics, Severity::Error, "metadata.name");
  ASSERT_NE(d, nullptr) << dump(r.diagnostics);
  EXPECT_NE(d->message.find("duplicate name"), std::string::npos);
  EXPECT_EQ(d->object, "Workload/service-b-v1");
  // Points at the second document's name, the one that repeats it.
  const size_t second = text.find("name: service-b-v1", text.find("name: service-b-v1") + 1);
  ASSERT_NE(second, std::string::npos);
  EXPECT_EQ(d->location.line, lineOf(text.substr(0, second) + "@", "@"));
}

TEST(Validation, FaultPercentageOutOfRange) {
  const std::string text = replaceOnce(defaultText(), "      timeout: 10s\n",
                                       "      timeout: 10s\n      fault:\n        delay: "
                                       "{fixedDelay: 1s, percentage: {value: 150}}\n");
  expectError(text, "spec.http[0].fault.delay.percentage.value", "value: 150", "range 0..100");
}

TEST(Validation, FaultPercentageBelowGranularity) {
  const std::string text = replaceOnce(defaultText(), "      timeout: 10s\n",
                                       "      timeout: 10s\n      fault:\n        abort: "
                                       "{httpStatus: 503, percentage: {value: 0.00001}}\n");
  expectError(text, "spec.http[0].fault.abort.percentage.value", "value: 0.00001", "0.0001");
}

TEST(Validation, AbortStatusOutOfRange) {
  for (const char* status : {"199", "601", "0"}) {
    const std::string text =
        replaceOnce(defaultText(), "      timeout: 10s\n",
                    std::string("      timeout: 10s\n      fault:\n        abort: "
                                "{httpStatus: ") +
                        status + ", percentage: {value: 50}}\n");
    expectError(text, "spec.http[0].fault.abort.httpStatus", "httpStatus", "range 200-599");
  }
}

TEST(Validation, AbortStatus600PassesAsInIstio) {
  // VAL.go checks < 200 || > 600, so 600 passes Istio's validation.
  const std::string text = replaceOnce(defaultText(), "      timeout: 10s\n",
                                       "      timeout: 10s\n      fault:\n        abort: "
                                       "{httpStatus: 600, percentage: {value: 50}}\n");
  LoadResult r = loadText(text);
  EXPECT_TRUE(r.ok()) << dump(r.diagnostics);
}

TEST(Validation, FaultNeedsDelayOrAbort) {
  const std::string text =
      replaceOnce(defaultText(), "      timeout: 10s\n", "      timeout: 10s\n      fault: {}\n");
  expectError(text, "spec.http[0].fault", "fault: {}", "delay, an abort, or both");
}

TEST(Validation, GrpcAbortNeedsAStatusName) {
  const std::string text = replaceOnce(defaultText(), "      timeout: 10s\n",
                                       "      timeout: 10s\n      fault:\n        abort: "
                                       "{grpcStatus: NOPE, percentage: {value: 1}}\n");
  expectError(text, "spec.http[0].fault.abort.grpcStatus", "grpcStatus: NOPE", "gRPC status name");
}

TEST(Validation, ExponentialDelayIsRejected) {
  const std::string text = replaceOnce(
      defaultText(), "      timeout: 10s\n",
      "      timeout: 10s\n      fault:\n        delay: {exponentialDelay: 1s, fixedDelay: 1s}\n");
  expectError(text, "spec.http[0].fault.delay.exponentialDelay", "exponentialDelay",
              "not supported");
}

TEST(Validation, MaxEjectionPercentOutOfRange) {
  const std::string text =
      replaceOnce(defaultText(), "maxEjectionPercent: 50", "maxEjectionPercent: 150");
  expectError(text, "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
              "maxEjectionPercent: 150", "[0..100]");
}

TEST(Validation, LocalOriginFailuresNeedSplit) {
  const std::string text =
      replaceOnce(defaultText(), "      maxEjectionPercent: 50\n",
                  "      maxEjectionPercent: 50\n      consecutiveLocalOriginFailures: 3\n");
  expectError(text, "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures",
              "consecutiveLocalOriginFailures: 3", "splitExternalLocalOriginErrors");
}

TEST(Validation, SubsetNameMustBeDnsLabel) {
  const std::string text = replaceOnce(defaultText(), "- name: v2\n", "- name: V2\n");
  expectError(text, "spec.subsets[1].name", "- name: V2", "DNS-1123 label");
}

TEST(Validation, DuplicateSubsetNames) {
  const std::string text = replaceOnce(defaultText(), "- name: v2\n", "- name: v1\n");
  expectError(text, "spec.subsets[1].name", "    - name: v1\n      labels: {version: v2}",
              "duplicate subset name");
}

TEST(Validation, UppercaseHeaderNameIsRejected) {
  const std::string text = replaceOnce(defaultText(), "- method: {regex: \"GET|HEAD|OPTIONS\"}",
                                       "- headers: {X-User: {exact: a}}");
  expectError(text, "spec.http[0].match[0].headers.X-User", "X-User", "must be lowercase");
}

TEST(Validation, InvalidRegexIsRejected) {
  const std::string text =
      replaceOnce(defaultText(), "{regex: \"GET|HEAD|OPTIONS\"}", "{regex: \"GET(\"}");
  expectError(text, "spec.http[0].match[0].method.regex", "regex: \"GET(\"", "RE2");
}

TEST(Validation, ReplicasOutOfRange) {
  for (const char* n : {"0", "10000"}) {
    const std::string text =
        replaceOnce(defaultText(), "  replicas: 1\n", std::string("  replicas: ") + n + "\n");
    expectError(text, "spec.replicas", std::string("replicas: ") + n, "between 1 and");
  }
}

TEST(Validation, UnknownChaosTarget) {
  const std::string text = replaceOnce(defaultText(), "target: service-c,", "target: service-x,");
  expectError(text, "spec.chaos.experiments[2].target", "target: service-x", "unknown service");
}

TEST(Validation, OnlyOneSprint) {
  const std::string text = defaultText() +
                           "---\napiVersion: meshproof.dev/v1alpha1\nkind: Sprint\nmetadata: "
                           "{name: other}\nspec: {}\n";
  expectError(text, "spec", "spec: {}", "only one Sprint");
}

TEST(Validation, ServiceEntryRules) {
  const std::string text = R"(apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external}
spec:
  hosts: ["*"]
  ports:
    - {number: 8080, name: http, protocol: HTTP}
    - {number: 8080, name: http2, protocol: HTTP}
  resolution: NONE
  endpoints:
    - address: 127.0.0.1
)";
  expectError(text, "spec.hosts[0]", "hosts: [\"*\"]", "wildcard");
  expectError(text, "spec.ports[1].number", "{number: 8080, name: http2", "cannot be duplicated");
  expectError(text, "spec.endpoints", "- address: 127.0.0.1",
              "resolution NONE cannot set endpoints");
}

TEST(Validation, ServiceEntryPortNeedsNumberInRange) {
  const std::string text = R"(apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external}
spec:
  hosts: [api.local]
  ports:
    - {number: 70000, name: http, protocol: HTTP}
)";
  expectError(text, "spec.ports[0].number", "70000", "between 1 and 65535");
}

TEST(Validation, VirtualServiceNeedsAHost) {
  const std::string text =
      replaceOnce(defaultText(), "  hosts:\n    - service-b\n", "  hosts: []\n");
  expectError(text, "spec.hosts", "hosts: []", "at least one host");
}

TEST(Validation, HttpRouteNeedsAnAction) {
  const std::string text = R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc}
spec:
  hosts: [svc]
  http:
    - name: nothing
      timeout: 1s
)";
  expectError(text, "spec.http[0]", "- name: nothing", "needs a route");
}

} // namespace
} // namespace meshproof::spec
