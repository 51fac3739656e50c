#include "meshproof/platform/platform.h"

#include <algorithm>

namespace meshproof::platform {

const char* phaseName(PodPhase phase) {
  switch (phase) {
  case PodPhase::Starting:
    return "Starting";
  case PodPhase::Running:
    return "Running";
  case PodPhase::Backoff:
    return "CrashLoopBackOff";
  case PodPhase::Stopped:
    return "Stopped";
  }
  return "Unknown";
}

core::Duration RestartBackoff::onExit(core::Duration ready_for) {
  if (ready_for >= policy_.reset_after) {
    next_ = policy_.initial;
  }
  const core::Duration delay = next_;
  next_ = std::min(next_ * 2, policy_.max);
  return delay;
}

} // namespace meshproof::platform
