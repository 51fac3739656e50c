#include "meshproof/validate/recovery.h"

#include <gtest/gtest.h>

namespace meshproof::validate {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// 40 s of 100 ms buckets at 10 requests each (100 rps); the kill at 10 s.
RecoveryInput recoveryInput() {
  RecoveryInput in;
  in.host = "service-c";
  in.pod = "service-c-1";
  in.window = seconds(10);
  in.max_recovery = seconds(20);
  in.timeline.assign(400, load::TimelineBucket{10, 0});
  in.kill_at = seconds(10);
  in.ready_after = milliseconds(700);
  return in;
}

TEST(RecoveryValidation, NoFailuresRecoversAtOnce) {
  const RecoveryResult r = evaluateRecovery(recoveryInput());
  EXPECT_EQ(r.verdict, Verdict::Pass) << r.reason;
  EXPECT_EQ(*r.recovered_after, seconds(0));
  EXPECT_EQ(r.failed_after_kill, 0u);
  EXPECT_EQ(r.requests_after_kill, 3000u);
}

TEST(RecoveryValidation, RecoveryStartsAfterTheLastBadWindow) {
  RecoveryInput in = recoveryInput();
  // Half the requests fail for 500 ms after the kill: windows starting before 10.5 s miss 99.9 %.
  for (size_t i = 100; i < 105; ++i) {
    in.timeline[i] = {5, 5};
  }
  const RecoveryResult r = evaluateRecovery(in);
  EXPECT_EQ(r.verdict, Verdict::Pass) << r.reason;
  EXPECT_EQ(*r.recovered_after, milliseconds(500));
  EXPECT_EQ(r.failed_after_kill, 25u);
  EXPECT_NEAR(r.worst_window_percent, 100.0 * 975 / 1000, 1e-9);
}

TEST(RecoveryValidation, OneFailurePerWindowStillMeetsTheObjective) {
  RecoveryInput in = recoveryInput();
  in.timeline[150] = {9, 1}; // 999 of 1000 = 99.9 %
  EXPECT_EQ(*evaluateRecovery(in).recovered_after, seconds(0));
  in.timeline[151] = {9, 1}; // 998 of 1000: windows covering both miss it
  EXPECT_EQ(*evaluateRecovery(in).recovered_after, milliseconds(5100));
}

TEST(RecoveryValidation, APodThatNeverComesBackFails) { // restarts disabled
  RecoveryInput in = recoveryInput();
  in.ready_after.reset();
  const RecoveryResult r = evaluateRecovery(in);
  EXPECT_EQ(r.verdict, Verdict::Fail);
  EXPECT_NE(r.reason.find("service-c-1 was not ready again within 20.0 s"), std::string::npos)
      << r.reason;
}

TEST(RecoveryValidation, FailuresUntilTheEndFail) {
  RecoveryInput in = recoveryInput();
  for (size_t i = 100; i < 400; ++i) {
    in.timeline[i] = {9, 1};
  }
  const RecoveryResult r = evaluateRecovery(in);
  EXPECT_EQ(r.verdict, Verdict::Fail);
  EXPECT_NE(r.reason.find("not back at 99.90 % within 20.0 s"), std::string::npos) << r.reason;
}

TEST(RecoveryValidation, SlowRecoveryFails) {
  RecoveryInput in = recoveryInput();
  for (size_t i = 100; i < 350; ++i) { // 25 s of errors, then 5 s clean: not a full window
    in.timeline[i] = {0, 10};
  }
  in.timeline.resize(500, load::TimelineBucket{10, 0});
  const RecoveryResult r = evaluateRecovery(in);
  EXPECT_EQ(r.verdict, Verdict::Fail) << r.reason;
  EXPECT_EQ(*r.recovered_after, seconds(25));
}

TEST(RecoveryValidation, NoSteadyStateOrTooShortOrInvalidLoadIsInconclusive) {
  RecoveryInput in = recoveryInput();
  in.timeline[50] = {0, 10};
  EXPECT_EQ(evaluateRecovery(in).verdict, Verdict::Inconclusive);
  EXPECT_NE(evaluateRecovery(in).reason.find("no steady state"), std::string::npos);
  RecoveryInput shortrun = recoveryInput();
  shortrun.timeline.resize(150);
  shortrun.timeline[120] = {0, 10};
  EXPECT_EQ(evaluateRecovery(shortrun).verdict, Verdict::Inconclusive)
      << evaluateRecovery(shortrun).reason;
  RecoveryInput invalid = recoveryInput();
  invalid.load_invalid = true;
  EXPECT_EQ(evaluateRecovery(invalid).verdict, Verdict::Inconclusive);
}

// The ASan flake of 57019fd: the generator ~0.5 s behind, the kill's failures counted where their
// requests were due, before the kill. Still inconclusive (the window is not a steady state of the
// schedule), but the reason says why; a bad window whose requests all left before the kill does not
// get that explanation.
TEST(RecoveryValidation, SaysWhenALateGeneratorSentRequestsDueBeforeTheKillAfterIt) {
  RecoveryInput late = recoveryInput();
  for (size_t i = 95; i < 100; ++i) { // due 9.5-10 s, sent 0.5 s late: after the kill at 10 s
    late.timeline[i] = {2, 8, milliseconds(520)};
  }
  const RecoveryResult r = evaluateRecovery(late);
  EXPECT_EQ(r.verdict, Verdict::Inconclusive);
  EXPECT_NE(r.reason.find("520 ms behind its schedule"), std::string::npos) << r.reason;

  RecoveryInput on_time = late;
  for (size_t i = 95; i < 100; ++i) {
    on_time.timeline[i].max_send_lag = milliseconds(20); // jitter
  }
  const RecoveryResult q = evaluateRecovery(on_time);
  EXPECT_EQ(q.verdict, Verdict::Inconclusive);
  EXPECT_NE(q.reason.find("no steady state"), std::string::npos) << q.reason;
  EXPECT_EQ(q.reason.find("behind its schedule"), std::string::npos) << q.reason;
}

} // namespace
} // namespace meshproof::validate
