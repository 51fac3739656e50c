#pragma once
// Five-field cron expressions (minute hour day-of-month month day-of-week, UTC), as Chaos Mesh's
// Schedule and Kubernetes CronJobs write them: `*`, numbers, lists `1,15`, ranges `1-5`, steps
// `*/4` and `0-30/10`; day-of-week 0-7 (0 and 7 are Sunday). When both day fields are restricted a
// day matches either (cron's rule). Pure; thread-safe.

#include <array>
#include <bitset>
#include <string>
#include <string_view>

#include "meshproof/core/clock.h"
#include "meshproof/core/result.h"

namespace meshproof::core {

class Cron {
public:
  // Errors name the field and what is wrong.
  static Result<Cron> parse(std::string_view expression);
  // The first matching minute strictly after `t`.
  WallTime next(WallTime t) const;
  const std::string& expression() const { return text_; }

private:
  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;    // 1-31
  std::bitset<13> months_;  // 1-12
  std::bitset<7> weekdays_; // 0-6, Sunday 0
  bool any_day_ = true;
  bool any_weekday_ = true;
};

} // namespace meshproof::core
