#pragma once
// Policy lint: warnings for the traps Istio users fall into (istio-envoy-semantics.md §5-6).
// meshproof follows Istio's behaviour exactly and says here, before anything runs, where that
// behaviour is not what the spec's author probably meant. Each warning names the rule, the file and
// line, and the consequence in one sentence.

#include <string_view>
#include <vector>

#include "meshproof/spec/diagnostics.h"
#include "meshproof/spec/spec.h"

namespace meshproof::spec {

struct LintRule {
  std::string_view id;
  std::string_view summary;
};

// Every rule, in the order lint() applies them.
const std::vector<LintRule>& lintRules();

// Rule ids.
inline constexpr std::string_view kRuleEjectionCap = "ejection-cap";
inline constexpr std::string_view kRuleRetryWithoutRetryOn = "retry-without-retryon";
inline constexpr std::string_view kRulePerTryTimeoutIgnored = "pertrytimeout-ignored";
inline constexpr std::string_view kRuleRetryAmplification = "retry-amplification";
inline constexpr std::string_view kRuleRetryNonIdempotent = "retry-non-idempotent";
inline constexpr std::string_view kRuleSubsetNoEndpoints = "subset-no-endpoints";
inline constexpr std::string_view kRuleSingleDestinationWeight = "single-destination-weight";
inline constexpr std::string_view kRuleVersionLabelMismatch = "version-label-mismatch";

// Warnings (Severity::Warning, rule set) for a loaded spec, sorted by file and line.
Diagnostics lint(const Spec& spec);

} // namespace meshproof::spec
