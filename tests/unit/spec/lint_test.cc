// Policy lint: every rule has a spec that triggers it and one that does not (its negative control),
// and the default spec is clean.

#include <gtest/gtest.h>

#include "unit/spec/spec_test_util.h"

namespace meshproof::spec {
namespace {

using testing::defaultText;
using testing::dump;
using testing::findRule;
using testing::lineOf;
using testing::lintText;
using testing::replaceOnce;

TEST(Lint, DefaultSpecIsClean) {
  LoadResult r = load({defaultSpecSource()});
  ASSERT_TRUE(r.ok());
  Diagnostics warnings = lint(*r.spec);
  EXPECT_TRUE(warnings.empty()) << dump(warnings);
}

TEST(Lint, EveryRuleIsListed) {
  std::vector<std::string_view> ids;
  for (const LintRule& rule : lintRules()) {
    ids.push_back(rule.id);
    EXPECT_FALSE(rule.summary.empty());
  }
  for (std::string_view id :
       {kRuleEjectionCap, kRuleRetryWithoutRetryOn, kRulePerTryTimeoutIgnored,
        kRuleRetryAmplification, kRuleRetryNonIdempotent, kRuleSubsetNoEndpoints,
        kRuleSingleDestinationWeight, kRuleVersionLabelMismatch}) {
    EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end()) << id;
  }
}

// A small mesh: one service with `replicas` pods behind a DestinationRule.
std::string ejectionSpec(int replicas, int max_ejection_percent) {
  return R"(apiVersion: meshproof.dev/v1alpha1
kind: Workload
metadata: {name: svc}
spec: {app: svc, replicas: )" +
         std::to_string(replicas) + R"(}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc}
spec:
  host: svc
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 5
      maxEjectionPercent: )" +
         std::to_string(max_ejection_percent) + "\n";
}

TEST(Lint, EjectionCapWarnsWhenNoHostCanBeEjected) {
  const std::string text = ejectionSpec(3, 10);
  Diagnostics w = lintText(text);
  const Diagnostic* d = findRule(w, kRuleEjectionCap);
  ASSERT_NE(d, nullptr) << dump(w);
  EXPECT_EQ(d->location.line, lineOf(text, "maxEjectionPercent: 10"));
  EXPECT_NE(d->message.find("floor(3 x 10 / 100) = 0"), std::string::npos) << d->format();
  EXPECT_NE(d->message.find("at least 34"), std::string::npos) << d->format();
  EXPECT_NE(d->format().find("warning[ejection-cap]"), std::string::npos);
}

TEST(Lint, EjectionCapIsQuietWhenOneHostCanBeEjected) {
  // §2.4: N=3, p=34 -> 1 host; N=2, p=50 -> 1.
  EXPECT_EQ(findRule(lintText(ejectionSpec(3, 34)), kRuleEjectionCap), nullptr);
  EXPECT_EQ(findRule(lintText(ejectionSpec(2, 50)), kRuleEjectionCap), nullptr);
  // N=3, p=33 -> 0 (33.3 > 33).
  EXPECT_NE(findRule(lintText(ejectionSpec(3, 33)), kRuleEjectionCap), nullptr);
}

TEST(Lint, EjectionCapDefaultTenPercentWithFewerThanTenPods) {
  // No maxEjectionPercent at all: Envoy's 10 % applies, and 9 pods cannot lose one.
  std::string text = ejectionSpec(9, 10);
  text = replaceOnce(text, "      maxEjectionPercent: 10\n", "");
  Diagnostics w = lintText(text);
  const Diagnostic* d = findRule(w, kRuleEjectionCap);
  ASSERT_NE(d, nullptr) << dump(w);
  EXPECT_EQ(d->location.line, lineOf(text, "outlierDetection:") + 1);
  EXPECT_EQ(
      findRule(lintText(replaceOnce(ejectionSpec(10, 10), "      maxEjectionPercent: 10\n", "")),
               kRuleEjectionCap),
      nullptr);
}

TEST(Lint, EjectionCapCountsEachSubsetSeparately) {
  // In the default spec v2 has one pod; with the v2 override removed, 50 % cannot eject it.
  const std::string text =
      replaceOnce(defaultText(),
                  "      trafficPolicy:\n        outlierDetection:\n"
                  "          consecutive5xxErrors: 5\n          interval: 5s\n"
                  "          baseEjectionTime: 30s\n          maxEjectionPercent: 100\n",
                  "");
  Diagnostics w = lintText(text);
  const Diagnostic* d = findRule(w, kRuleEjectionCap);
  ASSERT_NE(d, nullptr) << dump(w);
  EXPECT_NE(d->message.find("subset v2 (1 endpoint)"), std::string::npos) << d->format();
  EXPECT_EQ(d->message.find("subset v1"), std::string::npos) << d->format();
  EXPECT_EQ(d->location.line, lineOf(text, "maxEjectionPercent: 50"));
}

TEST(Lint, AttemptsWithoutRetryOn) {
  const std::string text =
      replaceOnce(defaultText(), "        retryOn: 5xx,reset,connect-failure\n", "");
  Diagnostics w = lintText(text);
  const Diagnostic* d = findRule(w, kRuleRetryWithoutRetryOn);
  ASSERT_NE(d, nullptr) << dump(w);
  EXPECT_EQ(d->location.line, lineOf(text, "attempts: 3"));
  EXPECT_NE(d->message.find("5xx responses and timeouts are not retried"), std::string::npos);
  EXPECT_EQ(findRule(lintText(defaultText()), kRuleRetryWithoutRetryOn), nullptr);
}

TEST(Lint, PerTryTimeoutNotBelowTimeout) {
  const std::string text =
      replaceOnce(defaultText(), "      timeout: 10s\n", "      timeout: 2s\n");
  Diagnostics w = lintText(text);
  const Diagnostic* d = findRule(w, kRulePerTryTimeoutIgnored);
  ASSERT_NE(d, nullptr) << dump(w);
  EXPECT_NE(d->message.find("perTryTimeout 2s >= timeout 2s"), std::string::npos) << d->format();
  EXPECT_EQ(
      findRule(lintText(replaceOnce(defaultText(), "      timeout: 10s\n", "      timeout: 3s\n")),
               kRulePerTryTimeoutIgnored),
      nullptr);
}

TEST(Lint, RetriesThatCanRepeatNonIdempotentRequests) {
  // Without the method match, the 5xx/reset retries also apply to POST.
  const std::string text = replaceOnce(
      defaultText(), "      match:\n        - method: {regex: \"GET|HEAD|OPTIONS\"}\n", "");
  Diagnostics w = lintText(text);
  const Diagnostic* d = findRule(w, kRuleRetryNonIdempotent);
  ASSERT_NE(d, nullptr) << dump(w);
  EXPECT_NE(d->message.find("POST/PATCH"), std::string::npos) << d->format();
  EXPECT_EQ(d->path, "spec.http[0].retries.retryOn");
  // A method regex that still admits POST is caught too.
  const std::string loose =
      replaceOnce(defaultText(), "{regex: \"GET|HEAD|OPTIONS\"}", "{regex: \"GET|POST\"}");
  EXPECT_NE(findRule(lintText(loose), kRuleRetryNonIdempotent), nullptr);
  // The default's second rule retries only before sending, so it is clean.
  EXPECT_EQ(findRule(lintText(defaultText()), kRuleRetryNonIdempotent), nullptr);
}

TEST(Lint, SubsetThatSelectsNoEndpoint) {
  const std::string text =
      replaceOnce(defaultText(), "      labels: {version: v2}\n", "      labels: {version: v3}\n");
  Diagnostics w = lintText(text);
  const Diagnostic* d = findRule(w, kRuleSubsetNoEndpoints);
  ASSERT_NE(d, nullptr) << dump(w);
  EXPECT_EQ(d->path, "spec.subsets[1]");
  EXPECT_EQ(d->location.line, lineOf(text, "    - name: v2"));
  EXPECT_NE(d->message.find("version=v3"), std::string::npos);
  EXPECT_NE(d->message.find("no healthy upstream"), std::string::npos);
  EXPECT_EQ(findRule(lintText(defaultText()), kRuleSubsetNoEndpoints), nullptr);
}

TEST(Lint, VersionLabelThatIsNotTheWorkloadsVersion) {
  // A v2 build deployed with v1's pod labels: subset v1's 90 % reaches it too.
  const std::string text = replaceOnce(defaultText(), "  version: v2\n  replicas: 1\n",
                                       "  version: v2\n  replicas: 1\n  labels: {version: v1}\n");
  Diagnostics w = lintText(text);
  const Diagnostic* d = findRule(w, kRuleVersionLabelMismatch);
  ASSERT_NE(d, nullptr) << dump(w);
  EXPECT_EQ(d->object, "Workload/service-b-v2");
  EXPECT_NE(d->message.find("run version v2 but are labelled version=v1"), std::string::npos)
      << d->message;
  // The label as the loader keeps it, and a matching label is quiet.
  const std::string same = replaceOnce(text, "labels: {version: v1}", "labels: {version: v2}");
  EXPECT_EQ(findRule(lintText(same), kRuleVersionLabelMismatch), nullptr);
}

TEST(Lint, WeightOnASingleDestination) {
  const std::string text = replaceOnce(defaultText(),
                                       "        - destination: {host: service-b, subset: v1}\n"
                                       "          weight: 90\n"
                                       "        - destination: {host: service-b, subset: v2}\n"
                                       "          weight: 10\n",
                                       "        - destination: {host: service-b, subset: v2}\n"
                                       "          weight: 10\n");
  Diagnostics w = lintText(text);
  const Diagnostic* d = findRule(w, kRuleSingleDestinationWeight);
  ASSERT_NE(d, nullptr) << dump(w);
  EXPECT_EQ(d->location.line, lineOf(text, "weight: 10"));
  EXPECT_NE(d->message.find("100%"), std::string::npos);
  // weight 100 on a single destination says exactly what happens: no warning.
  const std::string hundred = replaceOnce(text, "weight: 10\n", "weight: 100\n");
  EXPECT_EQ(findRule(lintText(hundred), kRuleSingleDestinationWeight), nullptr);
}

// service-a -> service-c retries 5xx too, so a failure at c is retried at a's and b's hop.
const char* kSecondRetryingHop = R"(---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: service-c
spec:
  hosts: [service-c]
  http:
    - route:
        - destination: {host: service-c}
      retries:
        attempts: 2
        retryOn: 5xx
)";

TEST(Lint, RetryAmplificationAlongTheCallGraph) {
  const std::string text = defaultText() + kSecondRetryingHop;
  Diagnostics w = lintText(text);
  const Diagnostic* d = findRule(w, kRuleRetryAmplification);
  ASSERT_NE(d, nullptr) << dump(w);
  EXPECT_EQ(d->object, "VirtualService/service-c");
  EXPECT_EQ(d->location.line, lineOf(text, "        attempts: 2"));
  // gateway -> a (1) -> b (1 + 3) -> c (1 + 2) = 12
  EXPECT_NE(d->message.find("gateway/ingress -> service-a -> service-b -> service-c"),
            std::string::npos)
      << d->format();
  EXPECT_NE(d->message.find("up to 12 times"), std::string::npos) << d->format();
}

TEST(Lint, NoAmplificationWhenOnlyOneHopRetries5xx) {
  // The same VirtualService for service-c retrying only connect failures does not compound.
  std::string text = defaultText() + kSecondRetryingHop;
  text = replaceOnce(text, "        retryOn: 5xx\n", "        retryOn: connect-failure\n");
  EXPECT_EQ(findRule(lintText(text), kRuleRetryAmplification), nullptr);
}

} // namespace
} // namespace meshproof::spec
