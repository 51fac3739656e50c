#pragma once
// The sprint report (DESIGN.md §3 report/): Markdown and a self-contained HTML page (inline CSS and
// SVG charts, no script, no external asset) built only from what the evidence ledger holds, so a
// report can be rebuilt and checked from the evidence alone.
//
// What a `meshproof run` records under artifacts/runs/<run-id>/ and the report reads:
//   run.json                 kind "run": the run summary (below)
//   validation/<check>.json  kind "validation": verdict records (baseline, split, retries, breaker,
//                            recovery; `meshproof validate ... --json`)
//   chaos/<journal>.json     kind "chaos-log": experiment journals (`meshproof chaos --json`)
//   metrics/prometheus.json  kind "metrics": Prometheus range queries over the run (optional)
// run.json: {runId, sprint, quick, seed, start, end, spec: [...], prometheus: url|null,
//   objectives: {latencyP95Ms, errorRatePercent, minThroughputRps},
//   stages: [{name, kind: validation|chaos, start, end, verdict, figure, reason, artifact}],
//   verdict: PASS|FAIL}
// metrics/prometheus.json: {start, end, step (unix seconds), latency: {service: {p50, p95, p99}},
//   throughput: {service: series}, successRate: {service: series}, versions: {service: {version:
//   series}}, ejections: {cluster: series}, alerts: [{alertname, labels, firstFiring, lastFiring,
//   seconds}]} with each series [[unix, value], ...] (NaN as null).
// Without a run.json (evidence of `meshproof schedule` or `chaos --evidence`), every validation,
// chaos-log and metrics artifact of the ledger is reported.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshproof/core/result.h"

namespace meshproof::report {

struct EvidenceSummary {
  uint64_t records = 0;      // ledger lines when the report was made (before it is recorded)
  uint64_t ledger_bytes = 0; // size of ledger.jsonl
  std::string origin;        // of the checkpoint
  uint64_t tree_size = 0;    // the checkpoint's size
  std::string root_hex;      // its RFC 9162 Merkle root
  std::string checkpoint;    // the signed note, as stored
};

struct ReportData { // NOLINT(bugprone-exception-escape): string and vector members only
  std::string evidence_dir;
  std::string sprint;
  std::string run_id;   // empty: a whole-ledger report
  std::string subtitle; // under the title when set ("chaos runs since the last report")
  nlohmann::json run;   // run.json, or null
  std::vector<nlohmann::json> validations;
  std::vector<nlohmann::json> journals;
  nlohmann::json metrics; // prometheus.json, or null
  EvidenceSummary evidence;
};

// Reads the ledger of `evidence_dir` and the artifacts of run `run_id` (empty: the latest run, or
// the whole ledger when no run is recorded). Errors: no ledger, an unreadable or non-JSON artifact
// (named), an unknown run id.
core::Result<ReportData> collect(const std::string& evidence_dir, const std::string& run_id);

// The ledger's size and its signed checkpoint (origin, size, Merkle root) as they are now.
EvidenceSummary evidenceSummary(const std::string& evidence_dir);

std::string markdown(const ReportData& data);
std::string html(const ReportData& data);

// The key figure of a verdict record (split shares and p, attempts per request, ...) or of a chaos
// journal (the added median delay, the recovery), for verdict tables.
std::string keyFigure(const nlohmann::json& record);

// "PASS" when every stage passed (or every experiment completed); else "FAIL".
std::string overallVerdict(const ReportData& data);

} // namespace meshproof::report
