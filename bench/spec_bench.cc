// How long loading and linting the default spec takes (it happens at every command start).
#include <benchmark/benchmark.h>
#include <yaml-cpp/yaml.h>

#include "meshproof/spec/lint.h"
#include "meshproof/spec/loader.h"

namespace {

void BM_LoadDefaultSpec(benchmark::State& state) {
  const auto source = meshproof::spec::defaultSpecSource();
  for (auto _ : state) {
    auto result = meshproof::spec::load({source});
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_LoadDefaultSpec);

// The same text through yaml-cpp alone: what the validation and the libyaml syntax check cost on
// top of parsing is the ratio of the two.
void BM_YamlCppParseOnly(benchmark::State& state) {
  const auto source = meshproof::spec::defaultSpecSource();
  for (auto _ : state) {
    auto docs = YAML::LoadAll(source.text);
    benchmark::DoNotOptimize(docs);
  }
}
BENCHMARK(BM_YamlCppParseOnly);

void BM_LintDefaultSpec(benchmark::State& state) {
  auto result = meshproof::spec::load({meshproof::spec::defaultSpecSource()});
  for (auto _ : state) {
    auto warnings = meshproof::spec::lint(*result.spec);
    benchmark::DoNotOptimize(warnings);
  }
}
BENCHMARK(BM_LintDefaultSpec);

} // namespace
