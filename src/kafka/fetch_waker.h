// Internal to src/kafka/: wakes a consumer's fetcher that librdkafka 2.0.x left asleep.
//
// librdkafka stops fetching a partition while the consumer queue holds queued.min.messages
// messages or queued.max.messages.kbytes (the high-level consumer counts the whole queue all
// partitions are forwarded to, not the partition's share). Nothing wakes the broker thread when the
// application drains the queue: it decides again only on its next event or its idle tick
// (1 s), so a consumer that reads faster than that tick gets one fetch per second (librdkafka issue
// #2879; fetch.queue.backoff.ms, from 2.2.0, makes the tick configurable, and with such a librdkafka
// the consumer sets it instead of starting a waker: see FetchRefillPathFor). One fetch holds ~140k
// of our messages, hence a ceiling of ~140k events/s whatever the consumer does.
//
// Any request to a partition's leader wakes the broker thread that fetches from it, and that thread
// decides again at once. So once the queue has been full and has drained to half, a small thread
// asks each leader for the assigned partitions' latest offsets (ListOffsets, one request per leader
// broker). Resuming the partitions instead would not do: that goes through librdkafka's main thread
// and purges the queue.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "kafka/fetch_refill.h"

namespace clickstream::kafka {

class FetchWaker {
 public:
  // The handle must outlive the waker; Stop() (or the destructor) before the handle is closed.
  FetchWaker(rd_kafka_t* handle, std::string topic);
  ~FetchWaker();
  FetchWaker(const FetchWaker&) = delete;
  FetchWaker& operator=(const FetchWaker&) = delete;

  // Called by the polling thread for each message it got (`bytes`: key and value), and with
  // nothing when a poll timed out.
  void OnMessage(size_t bytes) {
    window_bytes_ += static_cast<int64_t>(bytes);
    if (++window_messages_ >= kSampleEvery) Sample();
  }
  void OnEmptyPoll() { Sample(); }

  // The partitions to wake the leaders of (the current assignment). Polling thread only.
  void SetPartitions(std::vector<int32_t> partitions) { partitions_ = std::move(partitions); }

  // Waits for a request in flight and ends the thread.
  void Stop();

 private:
  // The queue's length is read under librdkafka's lock: every so many messages is often enough
  // against a threshold of tens of thousands.
  static constexpr int64_t kSampleEvery = 1024;

  struct QueueDeleter {
    void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
  };

  void Sample();
  void Request();
  void Run();
  void AskLeaders(const std::vector<int32_t>& partitions);

  rd_kafka_t* handle_;
  std::string topic_;
  std::unique_ptr<rd_kafka_queue_t, QueueDeleter> queue_;
  FetchRefillPolicy policy_;
  std::vector<int32_t> partitions_;
  int64_t window_messages_ = 0;
  int64_t window_bytes_ = 0;
  int64_t average_bytes_ = 0;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<std::vector<int32_t>> pending_;
  bool stopping_ = false;
  std::thread thread_;  // started on the first wake-up
};

}  // namespace clickstream::kafka
