#include "kafka/fetch_waker.h"

#include <chrono>
#include <cstdlib>

namespace clickstream::kafka {

namespace {

// Short: the request only has to reach the leader to wake its fetcher, and Stop() waits for it.
constexpr int kRequestTimeoutMs = 500;
constexpr std::chrono::milliseconds kMinWakeInterval{20};

int64_t ConfInteger(rd_kafka_t* handle, const char* key) {
  char value[64];
  size_t size = sizeof(value);
  if (rd_kafka_conf_get(rd_kafka_conf(handle), key, value, &size) != RD_KAFKA_CONF_OK) return 0;
  return std::strtoll(value, nullptr, 10);
}

FetchLimits ConfiguredLimits(rd_kafka_t* handle) {
  return FetchLimits{ConfInteger(handle, "queued.min.messages"),
                     ConfInteger(handle, "queued.max.messages.kbytes") * 1024};
}

}  // namespace

FetchWaker::FetchWaker(rd_kafka_t* handle, std::string topic)
    : handle_(handle),
      topic_(std::move(topic)),
      queue_(rd_kafka_queue_get_consumer(handle)),
      policy_(ConfiguredLimits(handle), kMinWakeInterval) {}

FetchWaker::~FetchWaker() { Stop(); }

void FetchWaker::Sample() {
  if (window_messages_ > 0) average_bytes_ = window_bytes_ / window_messages_;
  window_messages_ = window_bytes_ = 0;
  if (!queue_ || partitions_.empty()) return;
  const auto queued = static_cast<int64_t>(rd_kafka_queue_length(queue_.get()));
  if (policy_.ShouldWake(queued, queued * average_bytes_, FetchRefillPolicy::Clock::now())) Request();
}

void FetchWaker::Request() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return;
  pending_ = partitions_;
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  changed_.notify_one();
}

void FetchWaker::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return stopping_ || pending_.has_value(); });
    if (stopping_) return;
    const std::vector<int32_t> partitions = std::move(*pending_);
    pending_.reset();
    lock.unlock();
    AskLeaders(partitions);
    lock.lock();
  }
}

// ListOffsets for the latest offset of each partition: librdkafka groups the partitions by leader
// and sends one request to each. The answer is not needed, only the wake-up the request causes.
void FetchWaker::AskLeaders(const std::vector<int32_t>& partitions) {
  struct ListDeleter {
    void operator()(rd_kafka_topic_partition_list_t* list) const { rd_kafka_topic_partition_list_destroy(list); }
  };
  std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter> list(
      rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (int32_t partition : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), partition)->offset = RD_KAFKA_OFFSET_END;
  }
  (void)rd_kafka_offsets_for_times(handle_, list.get(), kRequestTimeoutMs);
}

void FetchWaker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_one();
  if (thread_.joinable()) thread_.join();
}

}  // namespace clickstream::kafka
