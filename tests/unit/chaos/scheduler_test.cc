// The schedule on a ManualClock: 24 simulated hours in microseconds, each run recorded in a real
// evidence ledger that then verifies.
#include "meshproof/chaos/scheduler.h"

#include <stdlib.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "meshproof/evidence/ledger.h"
#include "meshproof/evidence/verify.h"

namespace meshproof::chaos {
namespace {

using namespace std::chrono_literals;

int count(const std::vector<ScheduleEvent>& events, ScheduleEvent::Kind kind) {
  return static_cast<int>(std::count_if(events.begin(), events.end(),
                                        [kind](const ScheduleEvent& e) { return e.kind == kind; }));
}

struct Sim {
  core::ManualClock clock;
  core::Duration run_time = 3min;
  std::vector<core::Duration> run_times; // per run, overriding run_time
  int runs = 0;
  int reports = 0;
  core::Duration oversleep{};
  ScheduleHooks hooks() {
    return {[this](core::MonoTime t) {
              clock.advance(t - clock.monotonicNow() + oversleep);
              oversleep = {};
              return true;
            },
            [this] {
              const size_t i = static_cast<size_t>(runs++);
              clock.advance(i < run_times.size() ? run_times[i] : run_time);
            },
            [this] { ++reports; }};
  }
};

TEST(Schedule, TwentyFourHoursGiveSixChaosRunsAndTwoReports) {
  Sim sim;
  const auto events = runSchedule({}, sim.clock, sim.hooks());
  EXPECT_EQ(count(events, ScheduleEvent::Kind::Chaos), 6);
  EXPECT_EQ(count(events, ScheduleEvent::Kind::Report), 2);
  EXPECT_EQ(count(events, ScheduleEvent::Kind::Skipped), 0);
  EXPECT_EQ(sim.runs, 6);
  EXPECT_EQ(sim.reports, 2);
  EXPECT_EQ(events.front().time, "2026-01-01T04:00:00.000000Z");
}

TEST(Schedule, AnOverlappingTickIsSkippedUnderForbid) {
  Sim sim;
  sim.run_times = {3min, 5h}; // the 8 h run lasts past the 12 h tick
  const auto events = runSchedule({}, sim.clock, sim.hooks());
  EXPECT_EQ(count(events, ScheduleEvent::Kind::Chaos), 5);
  ASSERT_EQ(count(events, ScheduleEvent::Kind::Skipped), 1);
  auto skipped = std::find_if(events.begin(), events.end(), [](const ScheduleEvent& e) {
    return e.kind == ScheduleEvent::Kind::Skipped;
  });
  EXPECT_EQ(skipped->time, "2026-01-01T12:00:00.000000Z");
  EXPECT_NE(skipped->detail.find("Forbid"), std::string::npos);
  // Allow: the tick's run starts as soon as the long one ends instead.
  Sim allow;
  allow.run_times = {3min, 5h};
  ScheduleOptions o;
  o.forbid = false;
  const auto a = runSchedule(o, allow.clock, allow.hooks());
  EXPECT_EQ(count(a, ScheduleEvent::Kind::Chaos), 6);
  EXPECT_EQ(count(a, ScheduleEvent::Kind::Skipped), 0);
}

TEST(Schedule, DowntimeGivesOneCatchUpRunNotABurst) {
  Sim sim;
  sim.oversleep = 9h; // the first wait (for 4 h) ends at 13 h: the 4, 8 and 12 h ticks are due
  const auto events = runSchedule({}, sim.clock, sim.hooks());
  EXPECT_EQ(count(events, ScheduleEvent::Kind::Missed), 2);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[2].kind, ScheduleEvent::Kind::Chaos);
  EXPECT_EQ(events[2].detail, "catch-up after downtime");
  // 12 h (catch-up), 16, 20, 24.
  EXPECT_EQ(count(events, ScheduleEvent::Kind::Chaos), 4);
}

TEST(Schedule, EveryRunIsEvidenceThatVerifies) {
  char tmpl[] = "/tmp/meshproof-schedule-XXXXXX";
  const std::filesystem::path root = mkdtemp(tmpl);
  const std::string dir = (root / "sprint6").string();
  auto signer = *evidence::signerFromSeed(evidence::originOf("sprint6"), std::string(32, 's'));
  Sim sim;
  sim.run_times = {3min, 5h};
  ScheduleHooks hooks = sim.hooks();
  int n = 0;
  auto run = hooks.chaos;
  hooks.chaos = [&] {
    run();
    auto r = evidence::append({dir, "", signer},
                              {{"chaos-log", "chaos/run-" + std::to_string(++n) + ".json", "",
                                "{\"status\":\"completed\"}\n"}},
                              sim.clock);
    ASSERT_TRUE(r.isOk()) << r.status().message();
  };
  hooks.report = [&] {
    auto r = evidence::append(
        {dir, "", signer},
        {{"report", "reports/report-" + std::to_string(n) + ".md", "", "# report\n"}}, sim.clock);
    ASSERT_TRUE(r.isOk()) << r.status().message();
  };
  const auto events = runSchedule({}, sim.clock, hooks);
  // The schedule's own record (skips included) is evidence too.
  std::string log;
  for (const ScheduleEvent& e : events) {
    log += std::string(eventKindName(e.kind)) + " " + e.time + " " + e.detail + "\n";
  }
  ASSERT_TRUE(
      evidence::append({dir, "", signer}, {{"schedule", "schedule/log.txt", "", log}}, sim.clock)
          .isOk());
  evidence::VerifyOptions vo;
  vo.dir = dir;
  vo.verifiers = {evidence::verifierOf(signer)};
  auto report = evidence::verify(vo);
  ASSERT_TRUE(report.isOk());
  EXPECT_TRUE(report->findings.empty()) << report->findings.front().format();
  EXPECT_EQ(report->records, 5u + 2u + 1u);
  EXPECT_NE(log.find("skipped 2026-01-01T12:00:00.000000Z previous run still active"),
            std::string::npos)
      << log;
  std::filesystem::remove_all(root);
}

} // namespace
} // namespace meshproof::chaos

namespace meshproof::chaos {
namespace {

TEST(Schedule, ACronExpressionReplacesTheInterval) {
  Sim sim; // starts 2026-01-01T00:00:00Z
  ScheduleOptions o;
  o.cron = *core::Cron::parse("30 */6 * * *"); // 00:30, 06:30, 12:30, 18:30
  const auto events = runSchedule(o, sim.clock, sim.hooks());
  EXPECT_EQ(count(events, ScheduleEvent::Kind::Chaos), 4);
  EXPECT_EQ(events.front().time, "2026-01-01T00:30:00.000000Z");
  EXPECT_EQ(count(events, ScheduleEvent::Kind::Report), 2);
}

} // namespace
} // namespace meshproof::chaos
