#pragma once
// ISO 8601 / RFC 3339 timestamps in UTC, as evidence and journals write them.

#include <string>
#include <string_view>

#include "meshproof/core/clock.h"
#include "meshproof/core/result.h"

namespace meshproof::core {

// "2026-11-27T17:27:31.123456Z": UTC, always microsecond precision, 'Z' suffix.
std::string formatIso8601(WallTime t);

// Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" (RFC 3339; 't'/'z' and a space separator
// are accepted too). Anything else is InvalidArgument naming the problem.
Result<WallTime> parseIso8601(std::string_view text);

} // namespace meshproof::core
