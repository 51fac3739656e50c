#pragma once
// `meshproof chaos latency|kill|run NAME|plan`: brings the mesh up, drives steady open-loop traffic
// through the ingress, and runs chaos experiments (chaos/engine.h) with steady-state probes on the
// gateway's metrics, rollback always, and a journal per experiment:
//   latency --target H --delay D [--jitter J] [--percentage P] [--duration D]
//   kill --target H [--version V] [--mode one|fixed|percent] [--value N] [--signal SIGKILL|SIGTERM]
//        [--grace D] [--duration D]
//   run NAME            one experiment of the Sprint spec
//   plan                every experiment of the Sprint, in order (the default plan)
// Latency experiments also measure fidelity at the ingress: the added median delay and the share of
// delayed requests. Journals go to --journal FILE (one experiment) or the run directory, with
// --evidence DIR into the ledger too. SIGINT/SIGTERM interrupt: faults are removed, killed pods
// awaited, the journal says "interrupted". --linger D keeps the mesh up afterwards (inspection).
// Exit 0 when every experiment completed, 1 when one failed or aborted, 2 on bad input, 130 when
// interrupted.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace meshproof::cli {

struct ChaosCommandOptions {
  std::vector<std::string> args;
  std::vector<std::string> spec_paths;
  std::string target;
  std::string delay = "200ms";
  std::string jitter = "0s";
  double percentage = 100;
  std::string duration = "20s";
  std::string version;
  std::string mode = "one";
  unsigned value = 1;
  std::string signal = "SIGKILL";
  std::string grace = "0s";
  uint64_t seed = 0; // 0: the Sprint's chaos seed, else the clock
  double rate = 50;
  std::string journal;
  std::string evidence;
  std::string linger = "0s";
  std::string run_dir = ".meshproof";
  bool json = false;
  // run and plan: every experiment's duration instead of the Sprint's (`run --quick`); empty: the
  // Sprint's.
  std::string experiment_duration;
  // A Prometheus that scrapes the mesh (`meshproof run`'s, on 127.0.0.1:PORT): every probe also
  // records what it saw for the same window; 0: none.
  uint16_t prometheus_port = 0;
  bool prometheus = false; // start a Prometheus for the chaos mesh (with the lab alerts)
};

int chaosCommand(const ChaosCommandOptions& options, std::ostream& out, std::ostream& err);

// `meshproof schedule [-f SPEC] [--once] [--for D] [--evidence DIR]`: keeps the mesh up and runs
// the Sprint's chaos plan every chaos interval (4h) and a summary report every report interval
// (12h) (chaos/scheduler.h; concurrency policy from the spec), recording every journal, report and
// the schedule's own log in the sprint's evidence ledger (default evidence/<sprint>) and verifying
// it after each run. --once: one run and one report now. Exit 0 when every run completed and the
// evidence verifies, 1 otherwise, 2 on bad input, 130 when interrupted.
struct ScheduleCommandOptions {
  std::vector<std::string> spec_paths;
  bool once = false;
  std::string for_duration; // empty: until interrupted
  std::string evidence;
  std::string run_dir = ".meshproof";
  uint64_t seed = 0;
  double rate = 50;
  bool prometheus = false; // a Prometheus for the mesh: probes record what it saw, alerts evaluated
};

int scheduleCommand(const ScheduleCommandOptions& options, std::ostream& out, std::ostream& err);

} // namespace meshproof::cli
