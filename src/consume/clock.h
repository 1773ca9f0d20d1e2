// The consume loop's clock readings. Reading a clock per message cost as much as decoding the
// message's timestamp on this VM (~10% of the consumer's CPU at --batch-size 100000), so the loop
// reads the steady clock only when it has to and derives the wall-clock time from that reading.
#pragma once

#include <chrono>
#include <cstdint>

namespace clickstream::consume {

using SteadyClock = std::chrono::steady_clock;

// The wall-clock time of a steady-clock reading, re-anchored on the system clock every 100 ms, so
// the loop reads one clock, not two. It stays within microseconds of the system clock; an NTP step
// shows up at the next anchor.
class WallClock {
 public:
  static constexpr std::chrono::milliseconds kReanchorInterval{100};

  // Microseconds since the epoch, UTC, at `now`.
  int64_t Micros(SteadyClock::time_point now);

 private:
  void Anchor(SteadyClock::time_point now);

  SteadyClock::time_point anchored_at_{};
  int64_t anchor_micros_ = 0;
};

// Messages that were already waiting in librdkafka's queue are taken about a microsecond apart, so
// a run of them shares one clock reading (each message's ingested_at is off by at most ~0.1 ms).
class ClockSampler {
 public:
  static constexpr int kMessagesPerRead = 64;

  // The time the poll returned: read anew when the poll had to wait (`waited`), or once every
  // kMessagesPerRead polls that did not; else the previous reading.
  SteadyClock::time_point Read(bool waited);

 private:
  SteadyClock::time_point last_read_ = SteadyClock::now();
  int polls_since_read_ = 0;
};

}  // namespace clickstream::consume
