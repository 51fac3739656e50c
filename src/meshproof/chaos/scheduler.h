#pragma once
// The sprint's schedule: the chaos plan every `interval` (default 4 h) or at each match of a cron
// expression, and a report every
// `report_interval` (12 h), for `span`. Ticks fall at start + k x interval (k >= 1) up to and
// including start + span, chaos before a report due at the same time. Concurrency policy Forbid: a
// tick that falls while a run is still going is skipped and recorded as skipped (Allow: one run
// starts right after the late one instead; runs never overlap here). After downtime (the wait for
// a tick overshot by whole intervals) the missed ticks are recorded and one catch-up run starts,
// not a burst. Time comes from the Clock; waiting from `sleep_until`, so a test runs 24 hours in
// microseconds.

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "meshproof/core/clock.h"
#include "meshproof/core/cron.h"

namespace meshproof::chaos {

struct ScheduleOptions {
  core::Duration interval = std::chrono::hours(4);
  std::optional<core::Cron> cron; // when set, chaos ticks follow it instead of `interval`
  core::Duration report_interval = std::chrono::hours(12);
  core::Duration span = std::chrono::hours(24);
  bool forbid = true;
};

struct ScheduleEvent {
  enum class Kind { Chaos, Skipped, Missed, Report };
  Kind kind;
  std::string time;   // ISO 8601 UTC, when it happened (or was due)
  std::string detail; // "catch-up after downtime", "previous run active (Forbid)", ...
};
const char* eventKindName(ScheduleEvent::Kind kind);

struct ScheduleHooks {
  // Waits until the monotonic time; false when interrupted (the schedule then ends).
  std::function<bool(core::MonoTime)> sleep_until;
  std::function<void()> chaos;  // one run: the plan, evidence, verification
  std::function<void()> report; // one report
};

std::vector<ScheduleEvent> runSchedule(const ScheduleOptions& options, core::Clock& clock,
                                       const ScheduleHooks& hooks,
                                       const std::atomic<bool>* stop = nullptr);

} // namespace meshproof::chaos
