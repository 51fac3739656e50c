// Durable appends to the evidence ledger: one artifact per append (every append pays its own
// fsyncs of the staged file, the staging directory, the ledger line, the renamed file's directory
// and the checkpoint) against 64 artifacts per append (one ledger write and fsync, one checkpoint:
// group commit). Items per second = durable records per second.
#include <stdlib.h>

#include <filesystem>

#include <benchmark/benchmark.h>

#include "meshproof/evidence/ledger.h"

namespace {

using namespace meshproof;

void appendBench(benchmark::State& state) {
  const auto group = static_cast<size_t>(state.range(0));
  char tmpl[] = "/tmp/meshproof-bench-ledger-XXXXXX";
  const std::filesystem::path root = mkdtemp(tmpl);
  const std::string dir = (root / "bench").string();
  auto signer = evidence::signerFromSeed(evidence::originOf("bench"), std::string(32, 'b'));
  const std::string payload(1024, 'x');
  uint64_t n = 0;
  for (auto _ : state) {
    std::vector<evidence::NewArtifact> batch;
    for (size_t i = 0; i < group; ++i) {
      batch.push_back({"bench", "a/" + std::to_string(n++) + ".txt", "", payload});
    }
    auto r = evidence::append({dir, "bench", *signer}, batch, core::RealClock::instance());
    if (!r) {
      state.SkipWithError(r.status().message().c_str());
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  std::filesystem::remove_all(root);
}

BENCHMARK(appendBench)->Name("DurableAppend/one_per_append")->Arg(1)->UseRealTime()->MinTime(2);
BENCHMARK(appendBench)->Name("DurableAppend/group_of_64")->Arg(64)->UseRealTime()->MinTime(2);

} // namespace
