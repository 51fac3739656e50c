#include "meshproof/core/cron.h"

#include <charconv>
#include <sstream>
#include <vector>

namespace meshproof::core {

namespace {

// Days since 1970-01-01 -> civil date (H. Hinnant's algorithm).
void civil(int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(static_cast<int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0));
}

// Sets bits of one field; `name` for errors.
template <size_t N>
Status field(std::string_view text, int lo, int hi, std::bitset<N>& out, const char* name,
             bool* any) {
  *any = text == "*";
  auto number = [&](std::string_view s, int& v) {
    return !s.empty() && std::from_chars(s.data(), s.data() + s.size(), v).ec == std::errc() &&
           std::from_chars(s.data(), s.data() + s.size(), v).ptr == s.data() + s.size();
  };
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    std::string_view part = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    int step = 1;
    if (const size_t slash = part.find('/'); slash != std::string_view::npos) {
      if (!number(part.substr(slash + 1), step) || step <= 0) {
        return invalidArgument(std::string(name) + ": bad step in \"" + std::string(part) + "\"");
      }
      part = part.substr(0, slash);
    }
    int a = lo;
    int b = hi;
    if (part != "*") {
      const size_t dash = part.find('-');
      if (dash == std::string_view::npos) {
        if (!number(part, a)) {
          return invalidArgument(std::string(name) + ": \"" + std::string(part) +
                                 "\" is not a number");
        }
        b = step > 1 ? hi : a;
      } else if (!number(part.substr(0, dash), a) || !number(part.substr(dash + 1), b)) {
        return invalidArgument(std::string(name) + ": bad range \"" + std::string(part) + "\"");
      }
    }
    if (a < lo || b > hi || a > b) {
      return invalidArgument(std::string(name) + ": " + std::to_string(a) + "-" +
                             std::to_string(b) + " is outside " + std::to_string(lo) + "-" +
                             std::to_string(hi));
    }
    for (int v = a; v <= b; v += step) {
      out.set(static_cast<size_t>(v));
    }
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  return Status::ok();
}

} // namespace

Result<Cron> Cron::parse(std::string_view expression) {
  std::istringstream in{std::string(expression)};
  std::vector<std::string> parts;
  for (std::string p; in >> p;) {
    parts.push_back(p);
  }
  if (parts.size() != 5) {
    return invalidArgument("cron \"" + std::string(expression) +
                           "\": expected 5 fields (minute hour day-of-month month "
                           "day-of-week), got " +
                           std::to_string(parts.size()));
  }
  Cron c;
  c.text_ = std::string(expression);
  bool any = false;
  std::bitset<8> weekdays;
  for (const Status& st : {field(parts[0], 0, 59, c.minutes_, "minute", &any),
                           field(parts[1], 0, 23, c.hours_, "hour", &any),
                           field(parts[2], 1, 31, c.days_, "day-of-month", &c.any_day_),
                           field(parts[3], 1, 12, c.months_, "month", &any),
                           field(parts[4], 0, 7, weekdays, "day-of-week", &c.any_weekday_)}) {
    if (!st.isOk()) {
      return invalidArgument("cron \"" + std::string(expression) + "\": " + st.message());
    }
  }
  for (size_t i = 0; i < 7; ++i) {
    c.weekdays_[i] = weekdays[i] || (i == 0 && weekdays[7]);
  }
  return c;
}

WallTime Cron::next(WallTime t) const {
  using namespace std::chrono;
  int64_t minute = duration_cast<minutes>(t.time_since_epoch()).count() + 1;
  // At most ~4 years of minutes (Feb 29 on a given weekday); every valid expression matches sooner.
  for (int64_t guard = 0; guard < int64_t{60} * 24 * 366 * 5; ++guard, ++minute) {
    const int64_t day = minute >= 0 ? minute / 1440 : (minute - 1439) / 1440;
    const auto in_day = static_cast<int>(minute - day * 1440);
    int y = 0;
    unsigned m = 0;
    unsigned d = 0;
    civil(day, y, m, d);
    if (!months_[m]) {
      minute += 1439 - in_day; // the next day
      continue;
    }
    const auto wd = static_cast<size_t>(((day % 7) + 11) % 7); // 1970-01-01 was a Thursday (4)
    const bool dom = days_[d];
    const bool dow = weekdays_[wd];
    const bool day_ok = any_day_ && any_weekday_ ? true
                        : any_day_               ? dow
                        : any_weekday_           ? dom
                                                 : dom || dow;
    if (!day_ok) {
      minute += 1439 - in_day;
      continue;
    }
    if (!hours_[static_cast<size_t>(in_day / 60)]) {
      minute += 59 - in_day % 60;
      continue;
    }
    if (minutes_[static_cast<size_t>(in_day % 60)]) {
      return WallTime(duration_cast<WallTime::duration>(minutes(minute)));
    }
  }
  return WallTime::max();
}

} // namespace meshproof::core
