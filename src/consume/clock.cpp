#include "consume/clock.h"

namespace clickstream::consume {

int64_t WallClock::Micros(SteadyClock::time_point now) {
  if (now - anchored_at_ >= kReanchorInterval || now < anchored_at_) Anchor(now);
  return anchor_micros_ + std::chrono::duration_cast<std::chrono::microseconds>(now - anchored_at_).count();
}

void WallClock::Anchor(SteadyClock::time_point now) {
  anchored_at_ = now;
  anchor_micros_ =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
}

SteadyClock::time_point ClockSampler::Read(bool waited) {
  if (waited || ++polls_since_read_ >= kMessagesPerRead) {
    last_read_ = SteadyClock::now();
    polls_since_read_ = 0;
  }
  return last_read_;
}

}  // namespace clickstream::consume
