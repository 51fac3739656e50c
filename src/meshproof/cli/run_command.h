#pragma once
// `meshproof run [-f SPEC] [--quick] [--out DIR]`: the main job (DESIGN.md §1). With one real
// Prometheus (when installed) following the mesh through the file_sd file and evaluating the
// Sprint's lab alerts, it runs every stage on a fresh mesh, so each verdict stands on its own as
// `meshproof validate ...` would give it and no stage's state (ejections, killed pods, counters)
// leaks into the next:
//   baseline   open-loop traffic on the quiet mesh: the steady-state objective holds
//   split, retries, breaker, recovery   the Sprint's validations (validate_command.h)
//   chaos      the Sprint's chaos plan (chaos_command.h), pod kills with their recovery checks
// then snapshots Prometheus' series of the whole run, records everything in the evidence ledger
// (DIR, default evidence/<sprint>; one append per stage, so a crash keeps what was done), writes
// the report (report/report.h; Markdown + HTML, itself recorded), verifies the ledger and prints a
// verdict table. --quick: a smaller plan that is still valid (the split planned to detect a
// 10-point deviation, the breaker checked up to the ejection, recovery left to the chaos kill,
// experiments of 5 s). Exit 0 when every check passed and the evidence verifies, 1 otherwise, 2 on
// bad input (a bad spec, an unwritable DIR, a mesh that cannot start) with nothing recorded that
// would fail verification.
//
// `meshproof report [--evidence DIR] [--run ID] [--out FILE]`: the report of a run (default the
// latest; without runs, the whole ledger) as FILE.md and FILE.html (default: recorded under
// artifacts/reports/ in the ledger; with --out written there too).

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace meshproof::cli {

struct RunCommandOptions {
  std::vector<std::string> spec_paths;
  bool quick = false;
  std::string out; // evidence directory; empty: evidence/<sprint>
  std::string run_dir = ".meshproof";
  uint64_t seed = 0; // 0: from the clock (recorded)
};

int runCommand(const RunCommandOptions& options, std::ostream& out, std::ostream& err);

struct ReportCommandOptions {
  std::string evidence; // empty: evidence/<sprint of the spec>
  std::string run;      // empty: the latest
  std::string out;      // FILE (.md and .html); empty: only recorded
  std::vector<std::string> spec_paths;
};

int reportCommand(const ReportCommandOptions& options, std::ostream& out, std::ostream& err);

} // namespace meshproof::cli
