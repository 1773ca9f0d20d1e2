// When to wake a consumer's fetcher that librdkafka 2.0.x left asleep (see fetch_waker.h for the
// librdkafka behaviour). A pure decision over what the poll loop observes, so it is tested without
// a broker or a clock.
#pragma once

#include <chrono>
#include <cstdint>

namespace clickstream::kafka {

// librdkafka's prefetch limits for the whole consumer queue: it stops fetching once the queue holds
// queued.min.messages messages or queued.max.messages.kbytes of message bytes.
struct FetchLimits {
  int64_t max_messages = 0;
  int64_t max_bytes = 0;
};

class FetchRefillPolicy {
 public:
  using Clock = std::chrono::steady_clock;

  // Wake-ups are at least `min_interval` apart, so a client whose fetcher refills on its own (a
  // librdkafka with fetch.queue.backoff.ms) costs a few cheap requests per second at most.
  FetchRefillPolicy(FetchLimits limits, std::chrono::milliseconds min_interval);

  // The consumer queue holds `queued_messages` of about `queued_bytes`. True when the fetcher has
  // stopped on a full queue since the last wake-up and the queue has drained far enough that a
  // fetch now keeps it from running dry; the caller then wakes the fetcher.
  bool ShouldWake(int64_t queued_messages, int64_t queued_bytes, Clock::time_point now);

 private:
  bool NearlyFull(int64_t messages, int64_t bytes) const;
  bool Drained(int64_t messages, int64_t bytes) const;

  FetchLimits limits_;
  std::chrono::milliseconds min_interval_;
  bool armed_ = false;
  bool woken_before_ = false;
  Clock::time_point last_wake_{};
};

}  // namespace clickstream::kafka
