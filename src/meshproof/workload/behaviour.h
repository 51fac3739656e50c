#pragma once
// The demo service's behaviour, apart from sockets: latency drawn from the Workload's distribution,
// errors at its ratio, and the runtime switch (fail the next N requests or for a while, hang,
// recover) that validations and chaos use. Pure and clock-driven, so it is unit-tested exactly.
//
// Thread-safety: none; one Behaviour per pod, used from the pod's app thread.

#include <cstdint>
#include <optional>
#include <string>

#include "meshproof/core/clock.h"
#include "meshproof/core/random.h"
#include "meshproof/core/result.h"
#include "meshproof/spec/spec.h"

namespace meshproof::workload {

// A draw from `model`: fixed; uniform in [min, max]; lognormal with the given median and shape
// (median * exp(sigma * Z), Z standard normal by Box-Muller).
core::Duration sampleLatency(const spec::LatencyModel& model, core::Random& random);

// What to do with one request.
struct Verdict {
  enum class Kind { Serve, Fail, Hang };
  Kind kind = Kind::Serve;
  unsigned status = 200; // Fail: the status to answer
};

// A runtime override, as posted to POST /control/behaviour:
//   {"fail": {"status": 503, "count": 10}}   the next 10 requests answer 503
//   {"fail": {"status": 503, "for": "10s"}}  every request for 10 s answers 503
//   {"fail": {"status": 503, "attempts": 2}} attempts 1 and 2 of every request answer 503
//                                            (x-envoy-attempt-count), so the 3rd succeeds
//   {"hang": true}                           requests get no answer until recover
//   {"recover": true}                        back to the Workload's own behaviour
struct Override {
  enum class Kind { Recover, FailCount, FailFor, FailAttempts, Hang };
  Kind kind = Kind::Recover;
  unsigned status = 503;
  uint64_t count = 0; // FailCount: requests; FailAttempts: attempts per request
  core::Duration duration{};
};

// Parses a JSON body as above; errors name the field.
core::Result<Override> parseOverride(const std::string& json_body);

class Behaviour {
public:
  Behaviour(const spec::Workload& workload, core::Clock& clock, core::Random& random);

  // Decides the next request (`attempt`: its x-envoy-attempt-count, 1 for a first attempt);
  // consumes one from a "fail the next N" budget.
  Verdict next(uint64_t attempt = 1);
  void apply(const Override& o);
  bool hanging() const { return hang_; }
  // The state as JSON text, for GET /control/behaviour.
  std::string describe() const;

private:
  const spec::Workload& workload_;
  core::Clock& clock_;
  core::Random& random_;
  unsigned fail_status_ = 503;
  uint64_t fail_left_ = 0;
  uint64_t fail_attempts_ = 0; // attempts up to this number fail
  std::optional<core::MonoTime> fail_until_;
  bool hang_ = false;
  uint64_t served_ = 0;
  uint64_t failed_ = 0;
};

} // namespace meshproof::workload
