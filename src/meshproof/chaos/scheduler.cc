#include "meshproof/chaos/scheduler.h"

#include "meshproof/core/time.h"

namespace meshproof::chaos {

const char* eventKindName(ScheduleEvent::Kind kind) {
  switch (kind) {
  case ScheduleEvent::Kind::Chaos:
    return "chaos";
  case ScheduleEvent::Kind::Skipped:
    return "skipped";
  case ScheduleEvent::Kind::Missed:
    return "missed";
  case ScheduleEvent::Kind::Report:
    return "report";
  }
  return "?";
}

std::vector<ScheduleEvent> runSchedule(const ScheduleOptions& o, core::Clock& clock,
                                       const ScheduleHooks& hooks, const std::atomic<bool>* stop) {
  std::vector<ScheduleEvent> events;
  const core::MonoTime start = clock.monotonicNow();
  const core::WallTime wall_start = clock.wallNow();
  const core::MonoTime end = start + o.span;
  auto wallOf = [&](core::MonoTime t) {
    return core::formatIso8601(wall_start +
                               std::chrono::duration_cast<core::WallTime::duration>(t - start));
  };
  // The tick after `t`, for chaos (interval or cron) or reports.
  auto nextTick = [&](bool chaos, core::MonoTime t) {
    if (!chaos) {
      return t + o.report_interval;
    }
    if (!o.cron) {
      return t + o.interval;
    }
    const core::WallTime wall =
        wall_start + std::chrono::duration_cast<core::WallTime::duration>(t - start);
    return start + std::chrono::duration_cast<core::Duration>(o.cron->next(wall) - wall_start);
  };
  core::MonoTime next_chaos = nextTick(true, start);
  core::MonoTime next_report = nextTick(false, start);
  auto stopped = [&] { return stop != nullptr && stop->load(); };
  for (;;) {
    const bool chaos_first = next_chaos <= next_report;
    const core::MonoTime due = chaos_first ? next_chaos : next_report;
    if (due > end || stopped()) {
      break;
    }
    if (clock.monotonicNow() < due && !hooks.sleep_until(due)) {
      break;
    }
    if (stopped()) {
      break;
    }
    const core::MonoTime now = clock.monotonicNow();
    // Whole intervals passed while waiting: downtime. Record them, run once.
    core::MonoTime tick = due;
    std::string detail;
    while (nextTick(chaos_first, tick) <= now && nextTick(chaos_first, tick) <= end) {
      events.push_back({ScheduleEvent::Kind::Missed, wallOf(tick),
                        std::string(chaos_first ? "chaos" : "report") + " tick missed (downtime)"});
      tick = nextTick(chaos_first, tick);
      detail = "catch-up after downtime";
    }
    if (!chaos_first) {
      hooks.report();
      events.push_back({ScheduleEvent::Kind::Report, wallOf(clock.monotonicNow()), detail});
      next_report = nextTick(false, tick);
      continue;
    }
    const core::MonoTime run_start = clock.monotonicNow();
    hooks.chaos();
    events.push_back({ScheduleEvent::Kind::Chaos, wallOf(run_start), detail});
    const core::MonoTime run_end = clock.monotonicNow();
    tick = nextTick(true, tick);
    bool late_run = false;
    while (tick <= run_end && tick <= end) {
      if (o.forbid) {
        events.push_back({ScheduleEvent::Kind::Skipped, wallOf(tick),
                          "previous run still active (concurrencyPolicy Forbid)"});
      } else {
        late_run = true;
      }
      tick = nextTick(true, tick);
    }
    if (late_run && !stopped()) {
      const core::MonoTime late_start = clock.monotonicNow();
      hooks.chaos();
      events.push_back({ScheduleEvent::Kind::Chaos, wallOf(late_start),
                        "started late: its tick fell during the previous run (Allow)"});
      while (tick <= clock.monotonicNow() && tick <= end) {
        tick = nextTick(true, tick);
      }
    }
    next_chaos = tick;
  }
  return events;
}

} // namespace meshproof::chaos
