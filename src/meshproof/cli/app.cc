#include "meshproof/cli/app.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>
#include <vector>

#include "meshproof/cli/chaos_command.h"
#include "meshproof/cli/evidence_command.h"
#include "meshproof/cli/lint_command.h"
#include "meshproof/cli/load_command.h"
#include "meshproof/cli/proxy_command.h"
#include "meshproof/cli/render_command.h"
#include "meshproof/cli/run_command.h"
#include "meshproof/cli/up_command.h"
#include "meshproof/cli/validate_command.h"
#include "meshproof/cli/workload_command.h"
#include "meshproof/proxy/proxy_server.h"

namespace meshproof::cli {
namespace {

constexpr const char* kVersion = "meshproof 0.1.0";

void addSpecOption(CLI::App* cmd, std::vector<std::string>& paths, bool required = false) {
  auto* opt = cmd->add_option("-f,--filename", paths,
                              "Spec file or directory (repeatable, as kubectl -f); "
                              "default: the embedded Sprint 6 spec");
  if (required) {
    opt->required();
  }
}

} // namespace

int run(int argc, char** argv) {
  CLI::App app{
      "meshproof: prove that a service mesh's traffic policies and monitoring work.\n"
      "Runs a local Istio-faithful mesh, validates every policy with statistics, runs the\n"
      "chaos plan and keeps tamper-evident evidence. Exit codes: 0 ok, 1 a check failed,\n"
      "2 usage or configuration error.",
      "meshproof"};
  app.require_subcommand(1);
  app.set_version_flag("--version", kVersion);
  app.fallthrough();

  std::vector<std::string> spec_paths;
  bool json = false;

  // run
  auto* run_cmd =
      app.add_subcommand("run", "The main job: bring the mesh up, validate every policy, "
                                "run the chaos plan, record evidence, write the report, "
                                "verify, print a verdict table");
  addSpecOption(run_cmd, spec_paths);
  RunCommandOptions run_options;
  run_cmd->add_flag("--quick", run_options.quick,
                    "A statistically smaller but still valid plan (about 60 s)");
  run_cmd->add_option("--out", run_options.out, "Evidence directory (default evidence/<sprint>/)");
  run_cmd->add_option(
      "--run-dir", run_options.run_dir,
      "Where pods' files, journals and the Prometheus rules go (default .meshproof)");
  run_cmd->add_option(
      "--seed", run_options.seed,
      "Seed of the validations' routing and pod choices (default: random, recorded)");

  // up
  auto* up_cmd = app.add_subcommand("up", "Run the mesh in the foreground until Ctrl-C");
  addSpecOption(up_cmd, spec_paths);
  UpCommandOptions up_options;
  up_cmd->add_flag("--prometheus", up_options.prometheus,
                   "Also run a real Prometheus scraping every proxy");
  up_cmd->add_option("--admin-port", up_options.admin_port,
                     "Control plane admin port (default: a free port)");
  up_cmd->add_option("--run-dir", up_options.run_dir,
                     "Where the Prometheus file_sd file goes (default .meshproof)");
  up_cmd->add_option("--ready-timeout", up_options.ready_timeout,
                     "Give up when the mesh is not ready by then (default 60s)");

  // proxy
  auto* proxy_cmd = app.add_subcommand(
      "proxy", "Run the data plane only: a gateway in front of your own services");
  addSpecOption(proxy_cmd, spec_paths, true);
  uint16_t admin_port = 0;
  std::string admin_address = "127.0.0.1";
  std::string admin_token;
  uint64_t seed = 0;
  proxy_cmd->add_option("--admin-port", admin_port, "Admin port (default: a free port)");
  proxy_cmd->add_option("--admin-address", admin_address,
                        "Admin address (default 127.0.0.1; any other needs --admin-token)");
  proxy_cmd->add_option("--admin-token", admin_token,
                        "Bearer token required by mutating admin calls");
  proxy_cmd->add_option("--seed", seed,
                        "Seed for weighted picks and backoff jitter (default: time)");
  ProxyCommandOptions proxy_options;
  proxy_cmd->add_option("--request-headers-timeout", proxy_options.request_headers_timeout,
                        "A request head must arrive this long after its first byte (default 10s)");
  proxy_cmd->add_option("--stream-idle-timeout", proxy_options.stream_idle_timeout,
                        "Longest silence within a request or response (default 5m)");
  proxy_cmd->add_option("--drain-timeout", proxy_options.drain_timeout,
                        "On SIGTERM, how long requests in flight may finish (default 5s)");
  proxy_cmd
      ->add_option("--concurrency", proxy_options.concurrency,
                   "Worker threads, as Envoy's --concurrency (default 1); each has its own "
                   "connections and upstream pools")
      ->check(CLI::Range(uint32_t{1}, proxy::kMaxConcurrency));

  // workload (internal: one pod, started by the platform's supervisor)
  auto* workload_cmd = app.add_subcommand(
      "workload", "One pod: a Workload's demo service and its sidecar (started by `meshproof up`)");
  addSpecOption(workload_cmd, spec_paths);
  WorkloadCommandOptions workload_options;
  workload_cmd->add_option("--workload", workload_options.workload, "The Workload's name")
      ->required();
  workload_cmd->add_option("--pod", workload_options.pod, "The pod's name (default NAME-0)");
  workload_cmd->add_option("--port", workload_options.port,
                           "App port (default: the Workload's port, else a free one)");
  workload_cmd->add_option("--seed", workload_options.seed, "Seed (default: time)");
  workload_cmd->group(""); // hidden from --help: users run `meshproof up`

  // lint
  auto* lint_cmd = app.add_subcommand(
      "lint", "Validate the spec as Istio would and warn about policy footguns (exit 0 with "
              "warnings, 2 on errors)");
  addSpecOption(lint_cmd, spec_paths);
  lint_cmd->add_flag("--json", json, "Print diagnostics as JSON");

  // load
  auto* load_cmd =
      app.add_subcommand("load", "Drive synthetic HTTP load at URL and report latency");
  LoadCommandOptions load_options;
  load_cmd->add_option("URL", load_options.url, "Target URL (loopback)")->required();
  auto* rate_opt = load_cmd->add_option(
      "--rate", load_options.rate,
      "Open-loop requests per second, latency from the intended send time (default: closed "
      "loop, maximum rate)");
  load_cmd->add_option("--connections", load_options.connections,
                       "Concurrent connections (default 16)");
  load_cmd->add_option("--duration", load_options.duration, "How long, e.g. 30s (default 10s)");
  load_cmd->add_option("-n", load_options.requests, "How many requests (instead of --duration)");
  load_cmd->add_option("--warmup", load_options.warmup,
                       "Not recorded: the first part of the run (default 0s)");
  load_cmd->add_option("--timeout", load_options.timeout, "Per request (default 30s)");
  load_cmd->add_flag("--json", load_options.json, "Print results as JSON (fortio's field names)");

  // validate
  auto* validate_cmd = app.add_subcommand(
      "validate", "Prove one policy with statistics: split, retries, breaker or recovery");
  ValidateCommandOptions validate_options;
  validate_cmd->add_option("CHECK", validate_options.check, "split | retries | breaker | recovery")
      ->required()
      ->check(CLI::IsMember({"split", "retries", "breaker", "recovery"}));
  addSpecOption(validate_cmd, spec_paths);
  validate_cmd->add_option("--requests", validate_options.requests,
                           "Requests to send (default: the planned sample size + 3 %)");
  validate_cmd->add_option("--expect", validate_options.expect,
                           "Expected weights, e.g. v1=90,v2=10 (default: the spec's route)");
  validate_cmd->add_option("--expect-retries", validate_options.expect_retries,
                           "retries: the retry count to expect (default: the spec's route)");
  validate_cmd->add_option("--expect-ejection-after", validate_options.expect_ejection_after,
                           "breaker: the consecutive 5xx to expect an ejection at (default: the "
                           "spec's consecutive5xxErrors, or Istio's 5 when it sets none)");
  validate_cmd
      ->add_option("--rate", validate_options.rate,
                   "breaker, recovery: requests per second (default 50 for breaker; for "
                   "recovery enough that one failure shows in a window)")
      ->check(CLI::NonNegativeNumber);
  validate_cmd->add_option("--pod", validate_options.pod,
                           "recovery: the pod to kill (default: a seeded random choice among the "
                           "host's pods)");
  validate_cmd->add_flag("--no-restarts", validate_options.no_restarts,
                         "recovery: do not restart killed pods (restartPolicy Never; a positive "
                         "control: the check must fail)");
  validate_cmd->add_option("--connections", validate_options.connections,
                           "Load connections (default 8)");
  validate_cmd->add_option("--run-dir", validate_options.run_dir,
                           "Where the mesh's file_sd.json goes (default .meshproof)");
  validate_cmd->add_flag("--json", validate_options.json, "Print the verdict record as JSON");
  validate_cmd->add_option("--seed", validate_options.seed,
                           "Seed for every pod's and proxy's randomness (default: time); the "
                           "same seed replays the same routing decisions");

  // chaos
  auto* chaos_cmd = app.add_subcommand(
      "chaos", "Run one chaos experiment with steady-state checks and rollback: latency | kill | "
               "run EXPERIMENT");
  ChaosCommandOptions chaos_options;
  chaos_cmd->add_option("ARGS", chaos_options.args, "latency | kill | run EXPERIMENT | plan")
      ->required();
  addSpecOption(chaos_cmd, spec_paths);
  chaos_cmd->add_option("--target", chaos_options.target, "latency, kill: the host");
  chaos_cmd->add_option("--delay", chaos_options.delay, "latency: the fixed delay (200ms)");
  chaos_cmd->add_option("--jitter", chaos_options.jitter,
                        "latency: each delay uniform in delay +- jitter (0s)");
  chaos_cmd->add_option("--percentage", chaos_options.percentage,
                        "latency: share of requests delayed, 0-100 (100)");
  chaos_cmd->add_option("--duration", chaos_options.duration, "How long the fault lasts (20s)");
  chaos_cmd->add_option("--version", chaos_options.version, "kill: only pods of this version");
  chaos_cmd->add_option("--mode", chaos_options.mode, "kill: one | fixed | percent (one)");
  chaos_cmd->add_option("--value", chaos_options.value, "kill: the count or percent");
  chaos_cmd->add_option("--signal", chaos_options.signal, "kill: SIGKILL | SIGTERM (SIGKILL)");
  chaos_cmd->add_option("--grace", chaos_options.grace, "kill: SIGTERM's grace period (0s)");
  chaos_cmd->add_option("--seed", chaos_options.seed,
                        "Pod choice and the mesh's randomness (default: the Sprint's chaos seed)");
  chaos_cmd->add_option("--rate", chaos_options.rate, "Steady traffic, requests per second (50)");
  chaos_cmd->add_option("--journal", chaos_options.journal,
                        "Write the journal here (one experiment)");
  chaos_cmd->add_option("--evidence", chaos_options.evidence,
                        "Record the journals in this evidence directory's ledger");
  chaos_cmd->add_option("--linger", chaos_options.linger,
                        "Keep the mesh up this long afterwards, for inspection (0s)");
  chaos_cmd->add_option("--run-dir", chaos_options.run_dir,
                        "Journals and the crash marker go here (.meshproof)");
  chaos_cmd->add_flag("--json", chaos_options.json, "Print the journal(s) as JSON");
  chaos_cmd->add_flag("--prometheus", chaos_options.prometheus,
                      "Also run a real Prometheus: every probe records what it saw, alerts fire");

  // schedule
  auto* schedule_cmd = app.add_subcommand(
      "schedule", "Chaos every 4h, reports every 12h, evidence always (the sprint's schedule)");
  addSpecOption(schedule_cmd, spec_paths);
  ScheduleCommandOptions schedule_options;
  schedule_cmd->add_flag("--once", schedule_options.once,
                         "One chaos run and one report, then exit");
  schedule_cmd->add_option("--for", schedule_options.for_duration,
                           "Run for this long, e.g. 24h (default: until Ctrl-C)");
  schedule_cmd->add_option("--evidence", schedule_options.evidence,
                           "The sprint's evidence directory (default evidence/<sprint>)");
  schedule_cmd->add_option("--run-dir", schedule_options.run_dir, "Journals go here (.meshproof)");
  schedule_cmd->add_option("--seed", schedule_options.seed, "Seed (default: the Sprint's)");
  schedule_cmd->add_option("--rate", schedule_options.rate, "Steady traffic, requests/s (50)");
  schedule_cmd->add_flag("--prometheus", schedule_options.prometheus,
                         "Also run a real Prometheus: probes record what it saw, alerts fire");

  // evidence
  auto* evidence_cmd = app.add_subcommand(
      "evidence", "The evidence ledger (RFC 9162 Merkle log): add | verify | log | prove");
  EvidenceCommandOptions evidence_options;
  evidence_cmd
      ->add_option("ARGS", evidence_options.args,
                   "add DIR FILE... --kind K | verify DIR | log DIR | prove DIR PATH | "
                   "check-proof PROOF ARTIFACT --vkey K")
      ->required();
  evidence_cmd->add_option("--kind", evidence_options.kind,
                           "add: the artifacts' kind (test-result, metrics, chaos-log, report...)");
  evidence_cmd->add_option("--path", evidence_options.path,
                           "add: the path inside artifacts/ (default KIND/BASENAME)");
  evidence_cmd->add_option("--key", evidence_options.key,
                           "The signing key file (default: the sprint's key under "
                           "$MESHPROOF_KEY_DIR or ~/.config/meshproof/keys; created on first add)");
  evidence_cmd->add_option("--vkey", evidence_options.vkeys,
                           "verify, check-proof: a verifier key NAME+HASH+KEY or a file of them "
                           "(default: the signing key's .pub)");
  evidence_cmd->add_option("--trusted-checkpoint", evidence_options.trusted_checkpoint,
                           "verify: a checkpoint seen before; the ledger must extend it");
  evidence_cmd->add_option("--out", evidence_options.out, "prove: write the proof here");
  evidence_cmd->add_flag("--json", evidence_options.json, "verify, log: JSON");
  evidence_cmd->add_flag("--strict", evidence_options.strict,
                         "verify: exit 3 when there are only warnings");
  evidence_cmd->add_flag("--no-state", evidence_options.no_state,
                         "verify: neither read nor remember the last accepted checkpoint");

  // report
  auto* report_cmd = app.add_subcommand("report", "Write the Markdown + HTML report from evidence");
  ReportCommandOptions report_options;
  addSpecOption(report_cmd, spec_paths);
  report_cmd->add_option("--evidence", report_options.evidence,
                         "Evidence directory (default evidence/<sprint of the spec>)");
  report_cmd->add_option("--run", report_options.run, "The run's id (default: the latest)");
  report_cmd->add_option("--out", report_options.out,
                         "Also write FILE.md and FILE.html (always recorded in the ledger)");

  // render
  auto* render_cmd =
      app.add_subcommand("render", "Render Istio, Prometheus and Grafana files from the spec");
  addSpecOption(render_cmd, spec_paths);
  RenderCommandOptions render_options;
  render_cmd->add_option("--out", render_options.out, "Output directory (default monitoring/)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  if (run_cmd->parsed()) {
    run_options.spec_paths = spec_paths;
    return runCommand(run_options, std::cout, std::cerr);
  }
  if (report_cmd->parsed()) {
    report_options.spec_paths = spec_paths;
    return reportCommand(report_options, std::cout, std::cerr);
  }
  if (lint_cmd->parsed()) {
    return lintCommand({spec_paths, json}, std::cout);
  }
  if (proxy_cmd->parsed()) {
    proxy_options.spec_paths = spec_paths;
    proxy_options.admin_port = admin_port;
    proxy_options.admin_address = admin_address;
    proxy_options.admin_token = admin_token;
    proxy_options.seed = seed;
    return proxyCommand(proxy_options, std::cout, std::cerr);
  }
  if (up_cmd->parsed()) {
    up_options.spec_paths = spec_paths;
    return upCommand(up_options, std::cout, std::cerr);
  }
  if (validate_cmd->parsed()) {
    validate_options.spec_paths = spec_paths;
    return validateCommand(validate_options, std::cout, std::cerr);
  }
  if (schedule_cmd->parsed()) {
    schedule_options.spec_paths = spec_paths;
    return scheduleCommand(schedule_options, std::cout, std::cerr);
  }
  if (chaos_cmd->parsed()) {
    chaos_options.spec_paths = spec_paths;
    return chaosCommand(chaos_options, std::cout, std::cerr);
  }
  if (evidence_cmd->parsed()) {
    return evidenceCommand(evidence_options, std::cout, std::cerr);
  }
  if (load_cmd->parsed()) {
    load_options.rate_given = rate_opt->count() > 0;
    return loadCommand(load_options, std::cout, std::cerr);
  }
  if (render_cmd->parsed()) {
    render_options.spec_paths = spec_paths;
    return renderCommand(render_options, std::cout, std::cerr);
  }
  if (workload_cmd->parsed()) {
    workload_options.spec_paths = spec_paths;
    return workloadCommand(workload_options, std::cout, std::cerr);
  }
  std::cerr << "meshproof: no subcommand given (see meshproof --help)\n";
  return kExitUsage;
}

} // namespace meshproof::cli
