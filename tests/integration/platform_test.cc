// LocalPlatform with real child processes: crash loops, readiness, kills, grace periods, shutdown.
#include "meshproof/platform/local_platform.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

namespace meshproof::platform {
namespace {

using namespace std::chrono_literals;

// A pod that listens on a free port, says so, and answers every request 200 (the readiness probe
// included). Options: "ignore-term" ignores SIGTERM; "fds" reports its open descriptors on stderr.
PodTemplate pythonPod(const std::string& name, const std::string& options = "") {
  static const char* kScript = R"PY(
import http.server, json, os, signal, sys
if "ignore-term" in sys.argv[1]:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if "fds" in sys.argv[1]:
    print("fds " + " ".join(sorted(os.listdir("/proc/self/fd"), key=int)), file=sys.stderr, flush=True)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
port = s.server_address[1]
print(json.dumps({"event": "listening", "port": port, "admin": port}), flush=True)
s.serve_forever()
)PY";
  PodTemplate t;
  t.name = name;
  t.workload = "demo";
  t.labels = {{"app", "demo"}, {"version", "v1"}};
  t.argv = {"/usr/bin/python3", "-c", kScript, options.empty() ? "-" : options};
  return t;
}

LocalPlatformOptions fastOptions() {
  LocalPlatformOptions o;
  o.backoff.initial = 50ms;
  o.backoff.max = 400ms;
  o.probe_interval = 50ms;
  return o;
}

// Waits (on the platform's change notifications) until `pred` holds for the pod named `name`.
PodStatus waitFor(const Platform& platform, const std::string& name,
                  const std::function<bool(const PodStatus&)>& pred, const char* what) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  uint64_t seen = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    for (const PodStatus& p : platform.pods()) {
      if (p.name == name && pred(p)) {
        return p;
      }
    }
    seen = platform.waitForChange(seen, 200ms);
  }
  ADD_FAILURE() << "timed out waiting for " << name << ": " << what;
  return {};
}

bool processExists(int pid) {
  return pid > 0 && std::filesystem::exists("/proc/" + std::to_string(pid));
}

TEST(LocalPlatform, ACrashLoopIsReportedWithExitStatusAndStderr) {
  LocalPlatform platform(fastOptions());
  PodTemplate t;
  t.name = "crasher-0";
  t.labels = {{"app", "crasher"}, {"version", "v1"}};
  t.argv = {"/bin/sh", "-c", "echo 'boom: cannot bind 127.0.0.1:1' >&2; exit 3"};
  ASSERT_TRUE(platform.start({t}).isOk());
  const PodStatus p = waitFor(
      platform, "crasher-0", [](const PodStatus& s) { return s.restarts >= 3; }, "three restarts");
  EXPECT_FALSE(p.ever_ready);
  EXPECT_FALSE(p.ready);
  EXPECT_EQ(p.last_exit, "exit status 3");
  ASSERT_FALSE(p.stderr_tail.empty());
  EXPECT_EQ(p.stderr_tail.back(), "boom: cannot bind 127.0.0.1:1");
}

TEST(LocalPlatform, AnExecutableThatDoesNotExistCrashLoopsWithAMessage) {
  LocalPlatform platform(fastOptions());
  PodTemplate t;
  t.name = "ghost-0";
  t.argv = {"/nonexistent/meshproof"};
  ASSERT_TRUE(platform.start({t}).isOk());
  const PodStatus p = waitFor(
      platform, "ghost-0", [](const PodStatus& s) { return s.restarts >= 1; }, "a restart");
  EXPECT_EQ(p.last_exit, "exit status 127");
  ASSERT_FALSE(p.stderr_tail.empty());
  EXPECT_EQ(p.stderr_tail.back(), "meshproof: cannot execute /nonexistent/meshproof");
}

TEST(LocalPlatform, APodIsReadyWhenItsProbeAnswersAndIsRestartedAfterSigkill) {
  LocalPlatform platform(fastOptions());
  ASSERT_TRUE(platform.start({pythonPod("demo-0")}).isOk());
  const PodStatus first = waitFor(
      platform, "demo-0", [](const PodStatus& s) { return s.ready; }, "ready");
  EXPECT_NE(first.port, 0);
  EXPECT_EQ(first.restarts, 0u);
  EXPECT_EQ(std::string(phaseName(first.phase)), "Running");
  ASSERT_TRUE(platform.kill("demo-0", KillMode::Kill, 0s).isOk());
  const PodStatus second = waitFor(
      platform, "demo-0", [&](const PodStatus& s) { return s.ready && s.pid != first.pid; },
      "restarted and ready");
  EXPECT_EQ(second.restarts, 1u);
  EXPECT_EQ(second.last_exit, "killed by signal 9 (Killed)");
  EXPECT_FALSE(processExists(first.pid));
}

TEST(LocalPlatform, TerminateEscalatesToSigkillAfterTheGracePeriod) {
  LocalPlatform platform(fastOptions());
  ASSERT_TRUE(platform.start({pythonPod("stubborn-0", "ignore-term")}).isOk());
  const PodStatus first = waitFor(
      platform, "stubborn-0", [](const PodStatus& s) { return s.ready; }, "ready");
  ASSERT_TRUE(platform.kill("stubborn-0", KillMode::Terminate, 300ms).isOk());
  const PodStatus second = waitFor(
      platform, "stubborn-0", [&](const PodStatus& s) { return s.pid != first.pid; },
      "the process to be replaced");
  EXPECT_EQ(second.last_exit, "killed by signal 9 (Killed)"); // SIGTERM was ignored
}

TEST(LocalPlatform, PodsInheritOnlyTheirStandardStreams) {
  // A descriptor without close-on-exec, as libraries leave them (Asio's sockets among them).
  const int leaky = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky, 0);
  LocalPlatform platform(fastOptions());
  ASSERT_TRUE(platform.start({pythonPod("fds-0", "fds")}).isOk());
  const PodStatus p = waitFor(
      platform, "fds-0", [](const PodStatus& s) { return !s.stderr_tail.empty(); }, "its report");
  // 0, 1, 2 and the descriptor listdir itself opened.
  EXPECT_EQ(p.stderr_tail.front(), "fds 0 1 2 3");
  ::close(leaky);
}

TEST(LocalPlatform, ShutdownStopsEveryPodAndRestartsNone) {
  LocalPlatform platform(fastOptions());
  ASSERT_TRUE(platform.start({pythonPod("a-0"), pythonPod("a-1")}).isOk());
  std::vector<int> pids;
  for (const char* name : {"a-0", "a-1"}) {
    pids.push_back(waitFor(
                       platform, name, [](const PodStatus& s) { return s.ready; }, "ready")
                       .pid);
  }
  platform.shutdown(2s);
  for (const PodStatus& p : platform.pods()) {
    EXPECT_EQ(p.pid, 0);
    EXPECT_EQ(p.phase, PodPhase::Stopped);
  }
  for (int pid : pids) {
    EXPECT_FALSE(processExists(pid)) << pid;
  }
  EXPECT_FALSE(platform.start({pythonPod("late-0")}).isOk());
}

TEST(LocalPlatform, BadTemplatesAreRefused) {
  LocalPlatform platform(fastOptions());
  PodTemplate relative = pythonPod("r-0");
  relative.argv[0] = "python3";
  EXPECT_NE(platform.start({relative}).message().find("absolute path"), std::string::npos);
  EXPECT_TRUE(platform.start({pythonPod("d-0")}).isOk());
  EXPECT_NE(platform.start({pythonPod("d-0")}).message().find("already exists"), std::string::npos);
  EXPECT_EQ(platform.kill("nobody", KillMode::Kill, 0s).code(), core::StatusCode::NotFound);
}

} // namespace
} // namespace meshproof::platform
