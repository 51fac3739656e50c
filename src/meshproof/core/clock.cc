#include "meshproof/core/clock.h"

#include <cassert>

namespace meshproof::core {

RealClock& RealClock::instance() {
  static RealClock clock;
  return clock;
}

ManualClock::ManualClock(WallTime start) : wall_start_(start) {}

MonoTime ManualClock::monotonicNow() const {
  return MonoTime(Duration(elapsed_ns_.load(std::memory_order_acquire)));
}

WallTime ManualClock::wallNow() const {
  return wall_start_ + std::chrono::duration_cast<WallTime::duration>(
                           Duration(elapsed_ns_.load(std::memory_order_acquire)));
}

void ManualClock::advance(Duration d) {
  assert(d.count() >= 0);
  elapsed_ns_.fetch_add(d.count(), std::memory_order_acq_rel);
}

WallTime ManualClock::defaultStart() {
  // 2026-01-01T00:00:00Z
  return WallTime(std::chrono::seconds(1767225600));
}

} // namespace meshproof::core
