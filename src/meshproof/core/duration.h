#pragma once
// Durations as Istio writes them: Go's time.ParseDuration syntax ("2s", "500ms", "1.5s", "1m",
// "1h30m"), which is what the Istio CRDs accept (CEL `duration(self)`).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "meshproof/core/result.h"

namespace meshproof::core {

using Duration = std::chrono::nanoseconds;

// Parses a Go-syntax duration: an optional sign, then one or more <decimal><unit> terms with units
// ns, us, µs, ms, s, m, h. "0" alone is accepted. Overflow, an empty string, a missing unit or an
// unknown unit is an InvalidArgument error whose message says what was expected.
Result<Duration> parseDuration(std::string_view text);

// Formats a duration the way Go does, shortest exact form: "2s", "500ms", "1.5s", "1h30m0s" ->
// "1h30m". Negative durations get a leading '-'. Zero is "0s".
std::string formatDuration(Duration d);

// Whole milliseconds in `d`, rounded toward zero.
inline int64_t toMillis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

} // namespace meshproof::core
