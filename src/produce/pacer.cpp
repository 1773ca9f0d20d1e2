#include "produce/pacer.h"

#include <algorithm>

namespace clickstream::produce {

namespace {

// 10 ms of traffic, and never less than one event.
double DefaultBurst(double events_per_second) { return std::max(1.0, events_per_second / 100); }

}  // namespace

TokenBucket::TokenBucket(double events_per_second, double burst)
    : interval_(1.0 / events_per_second), tolerance_(interval_ * (std::max(burst, 1.0) - 1)) {}

PacerClock::time_point TokenBucket::Reserve(PacerClock::time_point now) {
  // A sender that fell behind may use at most `burst` tokens at once; beyond that the schedule
  // restarts from now, so an idle spell is not paid back as a flood.
  const auto earliest = now - std::chrono::duration_cast<PacerClock::duration>(tolerance_);
  if (!due_) {
    due_ = now;  // start with an empty bucket: no burst at start-up
  } else if (*due_ < earliest) {
    due_ = earliest;
  }
  const PacerClock::time_point due = *due_;
  // Truncating the interval to whole clock ticks (nanoseconds) costs under a nanosecond per event.
  due_ = due + std::chrono::duration_cast<PacerClock::duration>(interval_);
  return due;
}

PacerClock::time_point SpeedSchedule::Reserve(int64_t event_time_ms, PacerClock::time_point now) {
  if (!first_event_ms_) {
    first_event_ms_ = event_time_ms;
    start_ = now;
    return now;
  }
  const double offset_ms = static_cast<double>(event_time_ms - *first_event_ms_) / speed_;
  if (offset_ms <= 0) return now;
  return start_ + std::chrono::duration_cast<PacerClock::duration>(std::chrono::duration<double, std::milli>(offset_ms));
}

Pacer::Pacer(const PacingOptions& options) : options_(options) {
  if (options.speed > 0) {
    schedule_.emplace(options.speed);
  } else if (options.rate > 0) {
    bucket_.emplace(options.rate, DefaultBurst(options.rate));
  }
}

PacerClock::time_point Pacer::Reserve(int64_t event_time_ms, PacerClock::time_point now) {
  if (schedule_) return schedule_->Reserve(event_time_ms, now);
  if (bucket_) return bucket_->Reserve(now);
  return now;
}

}  // namespace clickstream::produce
