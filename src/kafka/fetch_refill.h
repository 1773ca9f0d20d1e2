// How a consumer's prefetch queue is refilled once the application drained it, and when to wake a
// fetcher that librdkafka before 2.2.0 left asleep (see fetch_waker.h for the librdkafka behaviour).
// Pure decisions over a version number and what the poll loop observes, so they are tested without
// a broker or a clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace clickstream::kafka {

enum class FetchRefillPath {
  kWaker,         // FetchWaker asks the leaders for offsets once the queue drained (fetch_waker.h)
  kQueueBackoff,  // librdkafka's fetcher looks again by itself after fetch.queue.backoff.ms
};

// librdkafka 2.2.0 as rd_kafka_version() encodes it (0xMMmmrrpp, pp 0xff for a release): the first
// release with fetch.queue.backoff.ms (its CHANGELOG: "Added fetch.queue.backoff.ms to the consumer",
// #2879). Its pre-releases take the waker: setting a property they may lack would fail the start.
inline constexpr int kFetchQueueBackoffVersion = 0x020200ff;

// The path for a librdkafka version as rd_kafka_version() gives it.
FetchRefillPath FetchRefillPathFor(int librdkafka_version);
// The path for the librdkafka this process runs with, which may be newer than the headers it was
// built against: a newer shared library turns the waker off by itself.
FetchRefillPath RunningFetchRefillPath();
std::string_view FetchRefillPathName(FetchRefillPath path);

// librdkafka's prefetch limits for the whole consumer queue: it stops fetching once the queue holds
// queued.min.messages messages or queued.max.messages.kbytes of message bytes.
struct FetchLimits {
  int64_t max_messages = 0;
  int64_t max_bytes = 0;
};

class FetchRefillPolicy {
 public:
  using Clock = std::chrono::steady_clock;

  // Wake-ups are at least `min_interval` apart, so a queue that fills and drains within
  // milliseconds costs one cheap request per interval at most.
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
