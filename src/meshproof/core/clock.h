#pragma once
// Clock: the single seam for time. Code that measures, schedules or stamps takes a Clock&;
// tests pass a ManualClock and move time by hand.
//
// Thread-safety: RealClock is stateless. ManualClock may be read and advanced from any thread.

#include <atomic>
#include <chrono>

#include "meshproof/core/duration.h"

namespace meshproof::core {

using MonoTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

class Clock {
public:
  virtual ~Clock() = default;
  // Monotonic time for intervals and deadlines.
  virtual MonoTime monotonicNow() const = 0;
  // Wall-clock time for timestamps (evidence, journals).
  virtual WallTime wallNow() const = 0;
};

class RealClock final : public Clock {
public:
  MonoTime monotonicNow() const override { return std::chrono::steady_clock::now(); }
  WallTime wallNow() const override { return std::chrono::system_clock::now(); }
  // A process-wide instance for wiring in cli/.
  static RealClock& instance();
};

// Starts at the given wall time (default 2026-01-01T00:00:00Z) and a fixed monotonic origin;
// only advance() moves it.
class ManualClock final : public Clock {
public:
  explicit ManualClock(WallTime start = defaultStart());
  MonoTime monotonicNow() const override;
  WallTime wallNow() const override;
  // Moves both clocks forward by `d` (d >= 0).
  void advance(Duration d);

  static WallTime defaultStart();

private:
  WallTime wall_start_;
  std::atomic<int64_t> elapsed_ns_{0};
};

} // namespace meshproof::core
