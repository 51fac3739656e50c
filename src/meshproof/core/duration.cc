#include "meshproof/core/duration.h"

#include <array>
#include <limits>

namespace meshproof::core {
namespace {

struct Unit {
  std::string_view name;
  uint64_t nanos;
};

// Longest names first so "ms" is not read as "m" followed by garbage.
constexpr std::array<Unit, 8> kUnits{{
    {"ns", 1ULL},
    {"us", 1000ULL},
    {"\xC2\xB5s", 1000ULL}, // U+00B5 micro sign
    {"\xCE\xBCs", 1000ULL}, // U+03BC Greek mu
    {"ms", 1000000ULL},
    {"s", 1000000000ULL},
    {"m", 60ULL * 1000000000ULL},
    {"h", 3600ULL * 1000000000ULL},
}};

Status syntaxError(std::string_view text, std::string_view why) {
  return invalidArgument("invalid duration \"" + std::string(text) + "\": " + std::string(why) +
                         " (expected a number with a unit such as 500ms, 2s, 1.5s, 1m or 1h)");
}

} // namespace

Result<Duration> parseDuration(std::string_view text) {
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s == "0") {
    return Duration::zero();
  }
  if (s.empty()) {
    return syntaxError(text, "empty");
  }
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t total = 0;
  while (!s.empty()) {
    // Integer part.
    uint64_t whole = 0;
    size_t digits = 0;
    while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
      if (whole > (kMax - 9) / 10) {
        return syntaxError(text, "too large");
      }
      whole = whole * 10 + static_cast<uint64_t>(s.front() - '0');
      s.remove_prefix(1);
      ++digits;
    }
    // Fraction part, kept as numerator/denominator (at most 18 significant digits).
    uint64_t frac = 0;
    uint64_t scale = 1;
    size_t frac_digits = 0;
    if (!s.empty() && s.front() == '.') {
      s.remove_prefix(1);
      while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
        if (scale < 1000000000000000000ULL) {
          frac = frac * 10 + static_cast<uint64_t>(s.front() - '0');
          scale *= 10;
        }
        s.remove_prefix(1);
        ++frac_digits;
      }
    }
    if (digits == 0 && frac_digits == 0) {
      return syntaxError(text, "a number is missing");
    }
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (s.substr(0, u.name.size()) == u.name) {
        if (unit == nullptr || u.name.size() > unit->name.size()) {
          unit = &u;
        }
      }
    }
    if (unit == nullptr) {
      return syntaxError(text, s.empty() ? "missing unit" : "unknown unit");
    }
    s.remove_prefix(unit->name.size());
    if (whole > kMax / unit->nanos) {
      return syntaxError(text, "too large");
    }
    uint64_t term = whole * unit->nanos;
    if (frac != 0) {
      // frac/scale of a unit, computed without overflow: unit->nanos <= 3.6e12, scale <= 1e18.
      long double part = static_cast<long double>(frac) * static_cast<long double>(unit->nanos) /
                         static_cast<long double>(scale);
      term += static_cast<uint64_t>(part);
    }
    if (term > kMax - total) {
      return syntaxError(text, "too large");
    }
    total += term;
  }
  auto value = static_cast<int64_t>(total);
  return Duration(negative ? -value : value);
}

std::string formatDuration(Duration d) {
  int64_t ns = d.count();
  if (ns == 0) {
    return "0s";
  }
  std::string sign = ns < 0 ? "-" : "";
  uint64_t u = ns < 0 ? static_cast<uint64_t>(-(ns + 1)) + 1 : static_cast<uint64_t>(ns);
  auto fraction = [](uint64_t value, uint64_t per) {
    std::string out = std::to_string(value / per);
    uint64_t rest = value % per;
    if (rest != 0) {
      std::string digits = std::to_string(rest);
      std::string padded =
          std::string(std::to_string(per).size() - 1 - digits.size(), '0') + digits;
      while (!padded.empty() && padded.back() == '0') {
        padded.pop_back();
      }
      out += "." + padded;
    }
    return out;
  };
  if (u < 1000ULL) {
    return sign + std::to_string(u) + "ns";
  }
  if (u < 1000000ULL) {
    return sign + fraction(u, 1000ULL) + "us";
  }
  if (u < 1000000000ULL) {
    return sign + fraction(u, 1000000ULL) + "ms";
  }
  constexpr uint64_t kSec = 1000000000ULL;
  uint64_t hours = u / (3600 * kSec);
  u -= hours * 3600 * kSec;
  uint64_t minutes = u / (60 * kSec);
  u -= minutes * 60 * kSec;
  std::string out = sign;
  if (hours != 0) {
    out += std::to_string(hours) + "h";
  }
  if (minutes != 0) {
    out += std::to_string(minutes) + "m";
  }
  if (u != 0 || (hours == 0 && minutes == 0)) {
    out += fraction(u, kSec) + "s";
  }
  return out;
}

} // namespace meshproof::core
