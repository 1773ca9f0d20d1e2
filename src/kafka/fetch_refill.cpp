#include "kafka/fetch_refill.h"

#include <librdkafka/rdkafka.h>

namespace clickstream::kafka {

FetchRefillPath FetchRefillPathFor(int librdkafka_version) {
  return librdkafka_version >= kFetchQueueBackoffVersion ? FetchRefillPath::kQueueBackoff : FetchRefillPath::kWaker;
}

FetchRefillPath RunningFetchRefillPath() { return FetchRefillPathFor(rd_kafka_version()); }

std::string_view FetchRefillPathName(FetchRefillPath path) {
  return path == FetchRefillPath::kWaker ? "fetch waker" : "fetch.queue.backoff.ms";
}

namespace {

// The queue is sampled every so many messages, so "full" starts a little below the limit.
constexpr int64_t kNearlyFullPercent = 90;
// Waking at half the limit leaves the other half to read while the fetch is on its way: a fetch
// takes milliseconds, half the default queue tens of milliseconds to read. Waking later risks an
// empty queue; earlier makes the queue (and the memory) grow past the limit.
constexpr int64_t kDrainedPercent = 50;

bool AtLeastPercent(int64_t value, int64_t limit, int64_t percent) {
  return limit > 0 && value * 100 >= limit * percent;
}

}  // namespace

FetchRefillPolicy::FetchRefillPolicy(FetchLimits limits, std::chrono::milliseconds min_interval)
    : limits_(limits), min_interval_(min_interval) {}

bool FetchRefillPolicy::NearlyFull(int64_t messages, int64_t bytes) const {
  return AtLeastPercent(messages, limits_.max_messages, kNearlyFullPercent) ||
         AtLeastPercent(bytes, limits_.max_bytes, kNearlyFullPercent);
}

bool FetchRefillPolicy::Drained(int64_t messages, int64_t bytes) const {
  // librdkafka fetches only when both limits allow it.
  return !AtLeastPercent(messages, limits_.max_messages, kDrainedPercent) &&
         !AtLeastPercent(bytes, limits_.max_bytes, kDrainedPercent);
}

bool FetchRefillPolicy::ShouldWake(int64_t queued_messages, int64_t queued_bytes, Clock::time_point now) {
  if (NearlyFull(queued_messages, queued_bytes)) armed_ = true;
  // Not armed: the fetcher is running (or the member is idle at the end of the topic, where the
  // queue never fills), and a wake-up would only be a request for nothing.
  if (!armed_ || !Drained(queued_messages, queued_bytes)) return false;
  if (woken_before_ && now - last_wake_ < min_interval_) return false;
  armed_ = false;
  woken_before_ = true;
  last_wake_ = now;
  return true;
}

}  // namespace clickstream::kafka
