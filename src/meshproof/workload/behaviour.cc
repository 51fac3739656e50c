#include "meshproof/workload/behaviour.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "meshproof/core/duration.h"

namespace meshproof::workload {

core::Duration sampleLatency(const spec::LatencyModel& model, core::Random& random) {
  using Model = spec::LatencyModel;
  switch (model.distribution) {
  case Model::Distribution::Fixed:
    return model.fixed;
  case Model::Distribution::Uniform: {
    const auto span = static_cast<double>((model.max - model.min).count());
    return model.min + core::Duration(static_cast<int64_t>(span * random.unit()));
  }
  case Model::Distribution::LogNormal: {
    // Box-Muller; 1 - unit() is in (0, 1], so the log is finite.
    const double u1 = 1.0 - random.unit();
    const double u2 = random.unit();
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
    const double ns = static_cast<double>(model.median.count()) * std::exp(model.sigma * z);
    return core::Duration(static_cast<int64_t>(std::min(ns, 3.6e12))); // capped at one hour
  }
  }
  return model.fixed;
}

core::Result<Override> parseOverride(const std::string& json_body) {
  const nlohmann::json j = nlohmann::json::parse(json_body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.size() != 1) {
    return core::invalidArgument(
        "body must be one of {\"fail\": {\"status\": 503, \"count\": N}}, {\"fail\": "
        "{\"status\": 503, \"for\": \"10s\"}}, {\"hang\": true}, {\"recover\": true}");
  }
  Override o;
  if (j.contains("recover")) {
    o.kind = Override::Kind::Recover;
    return o;
  }
  if (j.contains("hang")) {
    if (!j["hang"].is_boolean() || !j["hang"].get<bool>()) {
      return core::invalidArgument("hang must be true");
    }
    o.kind = Override::Kind::Hang;
    return o;
  }
  if (!j.contains("fail") || !j["fail"].is_object()) {
    return core::invalidArgument("unknown override; expected fail, hang or recover");
  }
  const auto& f = j["fail"];
  if (!f.contains("status") || !f["status"].is_number_integer() || f["status"].get<int>() < 200 ||
      f["status"].get<int>() > 599) {
    return core::invalidArgument("fail.status must be an HTTP status in 200-599");
  }
  o.status = f["status"].get<unsigned>();
  const int given = (f.contains("count") ? 1 : 0) + (f.contains("for") ? 1 : 0) +
                    (f.contains("attempts") ? 1 : 0);
  if (given != 1) {
    return core::invalidArgument(
        "fail needs exactly one of count (requests), for (a duration) or attempts (per request)");
  }
  if (f.contains("attempts")) {
    if (!f["attempts"].is_number_unsigned() || f["attempts"].get<uint64_t>() == 0) {
      return core::invalidArgument("fail.attempts must be a positive integer");
    }
    o.kind = Override::Kind::FailAttempts;
    o.count = f["attempts"].get<uint64_t>();
    return o;
  }
  if (f.contains("count")) {
    if (!f["count"].is_number_unsigned() || f["count"].get<uint64_t>() == 0) {
      return core::invalidArgument("fail.count must be a positive integer");
    }
    o.kind = Override::Kind::FailCount;
    o.count = f["count"].get<uint64_t>();
    return o;
  }
  if (!f["for"].is_string()) {
    return core::invalidArgument("fail.for must be a duration such as \"10s\"");
  }
  auto d = core::parseDuration(f["for"].get<std::string>());
  if (!d || *d <= core::Duration::zero()) {
    return core::invalidArgument("fail.for must be a positive duration such as \"10s\"");
  }
  o.kind = Override::Kind::FailFor;
  o.duration = *d;
  return o;
}

Behaviour::Behaviour(const spec::Workload& workload, core::Clock& clock, core::Random& random)
    : workload_(workload), clock_(clock), random_(random) {}

Verdict Behaviour::next(uint64_t attempt) {
  Verdict v;
  if (hang_) {
    v.kind = Verdict::Kind::Hang;
    return v;
  }
  if (attempt <= fail_attempts_) {
    ++failed_;
    v.kind = Verdict::Kind::Fail;
    v.status = fail_status_;
    return v;
  }
  if (fail_left_ > 0) {
    --fail_left_;
    ++failed_;
    v.kind = Verdict::Kind::Fail;
    v.status = fail_status_;
    return v;
  }
  if (fail_until_) {
    if (clock_.monotonicNow() < *fail_until_) {
      ++failed_;
      v.kind = Verdict::Kind::Fail;
      v.status = fail_status_;
      return v;
    }
    fail_until_.reset();
  }
  if (workload_.error_ratio > 0 && random_.unit() < workload_.error_ratio) {
    ++failed_;
    v.kind = Verdict::Kind::Fail;
    v.status = workload_.error_status;
    return v;
  }
  ++served_;
  return v;
}

void Behaviour::apply(const Override& o) {
  fail_left_ = 0;
  fail_attempts_ = 0;
  fail_until_.reset();
  hang_ = false;
  switch (o.kind) {
  case Override::Kind::Recover:
    break;
  case Override::Kind::FailCount:
    fail_status_ = o.status;
    fail_left_ = o.count;
    break;
  case Override::Kind::FailFor:
    fail_status_ = o.status;
    fail_until_ = clock_.monotonicNow() + o.duration;
    break;
  case Override::Kind::FailAttempts:
    fail_status_ = o.status;
    fail_attempts_ = o.count;
    break;
  case Override::Kind::Hang:
    hang_ = true;
    break;
  }
}

std::string Behaviour::describe() const {
  nlohmann::json j{{"served", served_}, {"failed", failed_}, {"hang", hang_}};
  if (fail_attempts_ > 0) {
    j["fail"] = {{"status", fail_status_}, {"attempts", fail_attempts_}};
  } else if (fail_left_ > 0) {
    j["fail"] = {{"status", fail_status_}, {"remaining", fail_left_}};
  } else if (fail_until_ && clock_.monotonicNow() < *fail_until_) {
    j["fail"] = {{"status", fail_status_},
                 {"remainingMs", core::toMillis(*fail_until_ - clock_.monotonicNow())}};
  }
  return j.dump();
}

} // namespace meshproof::workload
