// When each event may be sent: at a steady rate (a token bucket), at the original pace sped up
// (--speed), or at once. Pure arithmetic on time points handed in, so tests drive it with a fake
// clock and the replay loop does the sleeping.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace clickstream::produce {

using PacerClock = std::chrono::steady_clock;

// A token bucket in its "virtual scheduling" form: event k is due at start + k / rate. A bucket of
// `burst` tokens lets a late sender catch up after a stall (a slow poll, an oversleep) without ever
// sending more than `burst` events above the steady rate; it is kept small (10 ms of traffic by
// default) so the output is smooth rather than second-long bursts.
class TokenBucket {
 public:
  TokenBucket(double events_per_second, double burst);

  // Takes one token: returns when the event may be sent (<= now: send at once).
  PacerClock::time_point Reserve(PacerClock::time_point now);

 private:
  std::chrono::duration<double> interval_;
  std::chrono::duration<double> tolerance_;
  std::optional<PacerClock::time_point> due_;
};

// Replays the original inter-event gaps divided by `speed`: the first event goes at once, the
// event stamped t goes at start + (t - first) / speed. Events older than their predecessor (an
// unsorted file) go at once rather than never.
class SpeedSchedule {
 public:
  explicit SpeedSchedule(double speed) : speed_(speed) {}

  PacerClock::time_point Reserve(int64_t event_time_ms, PacerClock::time_point now);

 private:
  double speed_;
  std::optional<int64_t> first_event_ms_;
  PacerClock::time_point start_;
};

struct PacingOptions {
  double rate = 1000;  // events per second; 0 = unthrottled
  double speed = 0;    // > 0: replay original gaps / speed, ignoring rate
};

class Pacer {
 public:
  explicit Pacer(const PacingOptions& options);

  PacerClock::time_point Reserve(int64_t event_time_ms, PacerClock::time_point now);
  // True when every event is due at once, so the caller need not read the clock.
  bool unthrottled() const { return !bucket_ && !schedule_; }

 private:
  PacingOptions options_;
  std::optional<TokenBucket> bucket_;
  std::optional<SpeedSchedule> schedule_;
};

}  // namespace clickstream::produce
