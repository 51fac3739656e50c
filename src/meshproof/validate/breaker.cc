#include "meshproof/validate/breaker.h"

#include <algorithm>

namespace meshproof::validate {

namespace {

std::string seconds(int64_t ms) {
  const int64_t tenths = (ms + 50) / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

BreakerClientResult evaluateClient(const BreakerInput& in, const BreakerClient& c,
                                   std::vector<TimelineEntry>& timeline) {
  BreakerClientResult r;
  r.name = c.name;
  const int64_t base_ms = core::toMillis(in.base_ejection_time);
  const int64_t interval_ms = core::toMillis(in.interval);
  // The first ejection after the fault began, and the return that follows it (on the timeline
  // after the pod's responses of the same millisecond: the 5th 503 causes the ejection).
  std::vector<TimelineEntry> ejections;
  for (const EjectionEvent& e : c.events) {
    if (e.unix_ms < in.fault_start_ms) {
      continue;
    }
    if (e.kind == EjectionEvent::Kind::Overflow && !r.ejected_ms) {
      ejections.push_back({e.unix_ms, c.name + " could not eject " + in.pod +
                                          " (maxEjectionPercent reached: ejections_overflow)"});
    }
    if (e.kind == EjectionEvent::Kind::Ejected && !r.ejected_ms) {
      r.ejected_ms = e.unix_ms;
      ejections.push_back({e.unix_ms, c.name + " ejected " + in.pod + " (" + e.reason + ")"});
    } else if (e.kind == EjectionEvent::Kind::Unejected && r.ejected_ms && !r.returned_ms) {
      r.returned_ms = e.unix_ms;
      ejections.push_back({e.unix_ms, c.name + " returned " + in.pod + " to its load balancer"});
    }
  }
  const int64_t out_until = r.returned_ms.value_or(in.observe_end_ms);
  uint64_t failures_total = 0;
  for (const ServedRequest& s : c.served) {
    if (s.unix_ms < in.fault_start_ms) {
      continue;
    }
    if (s.status >= 500 && s.unix_ms <= in.fault_end_ms) {
      ++failures_total;
      if (!r.ejected_ms || s.unix_ms <= *r.ejected_ms) {
        ++r.failures_before_ejection;
        timeline.push_back({s.unix_ms, in.pod + " answered " + std::to_string(s.status) + " to " +
                                           c.name + " (" +
                                           std::to_string(r.failures_before_ejection) + ")"});
      }
    }
    if (r.ejected_ms && s.unix_ms > *r.ejected_ms && s.unix_ms < out_until) {
      ++r.served_while_ejected;
    }
    if (r.returned_ms && !r.back_ms && s.unix_ms >= *r.returned_ms) {
      r.back_ms = s.unix_ms;
      timeline.push_back(
          {s.unix_ms, in.pod + " served " + c.name + " again (" + std::to_string(s.status) + ")"});
    }
  }
  timeline.insert(timeline.end(), ejections.begin(), ejections.end());
  const std::string n = std::to_string(in.consecutive_5xx);
  if (!r.ejected_ms) {
    if (failures_total >= in.consecutive_5xx) {
      r.verdict = Verdict::Fail;
      r.reason = in.pod + " answered " + std::to_string(failures_total) + " consecutive 5xx to " +
                 c.name + " and was never ejected (expected at the " + n + "th)";
    } else {
      r.reason = "only " + std::to_string(failures_total) + " 5xx reached " + c.name +
                 " (fewer than " + n + ")";
    }
    return r;
  }
  std::vector<std::string> problems;
  if (r.failures_before_ejection != in.consecutive_5xx) {
    problems.push_back("ejected after " + std::to_string(r.failures_before_ejection) +
                       " consecutive 5xx, expected exactly " + n);
  }
  if (c.enforced_ejections == 0) {
    problems.push_back("its ejections_enforced_total metric for the cluster stayed 0");
  }
  if (r.served_while_ejected != 0) {
    problems.push_back("it still sent " + std::to_string(r.served_while_ejected) + " requests to " +
                       in.pod + " while the pod was ejected");
  }
  if (!in.check_return && problems.empty()) {
    r.verdict = Verdict::Pass;
    r.reason = c.name + " ejected " + in.pod + " at its " + n +
               "th consecutive 5xx and sent it nothing for the " +
               seconds(in.observe_end_ms - *r.ejected_ms) +
               " observed (its return was not awaited)";
    return r;
  }
  if (!r.returned_ms) {
    if (in.observe_end_ms - *r.ejected_ms < base_ms + interval_ms) {
      r.reason = "ejected at the " + std::to_string(r.failures_before_ejection) +
                 "th 5xx; the run ended before its return was due";
      r.verdict = problems.empty() ? Verdict::Inconclusive : Verdict::Fail;
      if (!problems.empty()) {
        r.reason = problems.front();
      }
      return r;
    }
    problems.push_back("not returned within baseEjectionTime + interval (" +
                       seconds(base_ms + interval_ms) + ")");
  } else {
    const int64_t out_ms = *r.returned_ms - *r.ejected_ms;
    if (out_ms < base_ms) {
      problems.push_back("returned after " + seconds(out_ms) + ", before baseEjectionTime " +
                         seconds(base_ms));
    } else if (out_ms > base_ms + interval_ms + core::toMillis(in.tick_slack)) {
      problems.push_back("returned after " + seconds(out_ms) + ", later than baseEjectionTime + " +
                         "interval (" + seconds(base_ms + interval_ms) + ")");
    }
    if (!r.back_ms) {
      problems.push_back("no request reached " + in.pod + " from " + c.name + " after its return");
    }
  }
  if (!problems.empty()) {
    r.verdict = Verdict::Fail;
    std::string joined;
    for (const std::string& p : problems) {
      joined += (joined.empty() ? "" : "; ") + p;
    }
    r.reason = c.name + ": " + joined;
    return r;
  }
  r.verdict = Verdict::Pass;
  r.reason = c.name + " ejected " + in.pod + " at its " + n +
             "th consecutive 5xx, sent it nothing for " + seconds(*r.returned_ms - *r.ejected_ms) +
             ", then took it back";
  return r;
}

} // namespace

BreakerResult evaluateBreaker(const BreakerInput& in) {
  BreakerResult r;
  r.timeline.push_back({in.fault_start_ms, in.pod + " made to answer 503 to every request"});
  r.timeline.push_back({in.fault_end_ms, in.pod + " healthy again"});
  if (in.clients.empty()) {
    r.verdict = Verdict::Inconclusive;
    r.reason = "no client proxy calls " + in.host;
  }
  for (const BreakerClient& c : in.clients) {
    r.clients.push_back(evaluateClient(in, c, r.timeline));
  }
  std::stable_sort(
      r.timeline.begin(), r.timeline.end(),
      [](const TimelineEntry& a, const TimelineEntry& b) { return a.unix_ms < b.unix_ms; });
  const auto with = [&](Verdict v) {
    return std::find_if(r.clients.begin(), r.clients.end(),
                        [v](const BreakerClientResult& c) { return c.verdict == v; });
  };
  if (auto f = with(Verdict::Fail); f != r.clients.end()) {
    r.verdict = Verdict::Fail;
    r.reason = f->reason;
  } else if (auto i = with(Verdict::Inconclusive); i != r.clients.end()) {
    r.verdict = Verdict::Inconclusive;
    r.reason = i->name + ": " + i->reason;
  } else if (!r.clients.empty()) {
    r.verdict = Verdict::Pass;
    r.reason = "each of " + std::to_string(r.clients.size()) + " client proxies ejected " + in.pod +
               " at exactly its " + std::to_string(in.consecutive_5xx) +
               (in.check_return ? "th consecutive 5xx, sent it nothing while it was out and took "
                                  "it back after baseEjectionTime on an interval tick"
                                : "th consecutive 5xx and sent it nothing while it was out (the "
                                  "return after baseEjectionTime was not awaited)");
  }
  return r;
}

} // namespace meshproof::validate
