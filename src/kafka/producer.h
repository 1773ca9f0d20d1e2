// An owned librdkafka producer: one handle, its delivery reports counted and handed to the caller.
// Delivery reports and errors are served on the thread that calls Poll(), Produce() or Flush(),
// so callbacks need no locking. Not thread-safe: one thread drives one Producer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "kafka/client_statistics.h"
#include "kafka/config.h"
#include "kafka/error_log.h"

struct rd_kafka_message_s;
struct rd_kafka_s;
struct rd_kafka_topic_s;
struct rd_kafka_vu_s;

namespace clickstream::kafka {

// Let the partitioner choose (it hashes the key).
inline constexpr int32_t kAnyPartition = -1;

struct MessageHeader {
  std::string_view name;
  std::string_view value;
};

// What the caller hands to Produce(). Key, value and headers are copied, so the buffers may be
// reused as soon as Produce() returns.
struct OutgoingMessage {
  std::string_view topic;
  std::string_view key;
  std::string_view value;
  std::span<const MessageHeader> headers;
  int32_t partition = kAnyPartition;
  void* opaque = nullptr;                     // returned in the message's DeliveryReport
};

// One message of a ProduceBatch(): key and value, copied by librdkafka as with OutgoingMessage.
struct KeyedValue {
  std::string_view key;
  std::string_view value;
};

// What ProduceBatch() did with the messages it was given.
struct BatchOutcome {
  int64_t enqueued = 0;     // accepted, in order; their delivery reports follow
  int64_t failed = 0;       // refused for good (e.g. over message.max.bytes); no report follows
  std::string first_error;  // why the first refused message was refused
  // The refused ones by librdkafka's name for the reason (e.g. MSG_SIZE_TOO_LARGE): a bounded set.
  std::map<std::string_view, int64_t> failed_by_name;
};

struct DeliveryReport {
  bool delivered = true;
  std::string_view error;  // why not, when not delivered; valid during the callback only
  std::string_view error_name;  // librdkafka's name for it (e.g. _MSG_TIMED_OUT): a bounded set
  int32_t partition = kAnyPartition;
  int64_t offset = -1;
  void* opaque = nullptr;
};

struct DeliveryCounts {
  int64_t produced = 0;   // accepted by Produce()
  int64_t delivered = 0;  // acknowledged by the broker
  int64_t failed = 0;     // delivery report carried an error
  int64_t in_flight() const { return produced - delivered - failed; }
};

struct ProducerCallbacks {
  // Called once per message, successful or not.
  std::function<void(const DeliveryReport&)> on_delivery;
  // Non-fatal client errors (broker down, all brokers down, …): librdkafka retries by itself, so
  // these are for logging. Fatal errors are also recorded and returned by FatalError(). Unset: each
  // gets a line on stderr naming the client (unless log_level is below 3), a repeated non-fatal one
  // at most every 10 s.
  std::function<void(bool fatal, std::string_view reason)> on_error;
};

class Producer {
 public:
  // Takes the configuration (MakeConf) and creates the client.
  static arrow::Result<std::unique_ptr<Producer>> Make(ConfPtr conf, ProducerCallbacks callbacks = {});

  // Purges whatever is still queued and destroys the handle without waiting: call Flush() first
  // when the messages matter.
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues one message. When the local queue is full, serves delivery reports and retries until
  // there is room; gives up with Status::Cancelled once *stop (if given) becomes true.
  arrow::Status Produce(const OutgoingMessage& message, const std::atomic<bool>* stop = nullptr);

  // Enqueues headerless messages to one topic with one call per batch (rd_kafka_produce_batch):
  // the topic is locked and the clock read once per batch rather than per message. With the
  // default partitioner the messages are partitioned here, exactly as librdkafka would, and handed
  // over grouped by partition, so librdkafka looks each partition up once per batch instead of
  // once per message. Order is kept within each partition: when the local queue fills, serves
  // delivery reports and resumes at the first message that did not fit. Adds to *outcome; Status::Cancelled once *stop (if given) becomes true while the
  // queue is full (outcome->enqueued then says how far it got).
  arrow::Status ProduceBatch(std::string_view topic, std::span<const KeyedValue> messages, BatchOutcome* outcome,
                             const std::atomic<bool>* stop = nullptr);

  // Does what the first ProduceBatch() to this topic would otherwise do before its messages are
  // enqueued: look the topic up, with its partition count (a round trip to the cluster, which waits
  // for the first connection). A paced replay calls it before its first event is due.
  void PrepareTopic(std::string_view topic);

  // Serves delivery reports and error events; waits at most timeout_ms for the first one.
  void Poll(int timeout_ms = 0);

  // Waits until every message has a delivery report or the timeout passes (then an IOError
  // naming how many are still in flight).
  arrow::Status Flush(std::chrono::milliseconds timeout);

  const DeliveryCounts& counts() const { return counts_; }
  // The statistics librdkafka emitted since the last call (statistics.interval.ms), if any.
  std::optional<ClientStatistics> TakeStatistics();
  // OK unless the client hit a fatal error (e.g. the idempotent producer lost its guarantees).
  arrow::Status FatalError() const;

 private:
  explicit Producer(ProducerCallbacks callbacks);
  friend struct ProducerCallbackTrampoline;
  // Resolves message.topic to a topic handle, reusing the last one: naming the topic per message
  // makes librdkafka look it up under a lock every time.
  rd_kafka_topic_s* TopicHandle(std::string_view name);
  // How many partitions the topic has, when this producer may partition for librdkafka; 0 leaves
  // partitioning to librdkafka (another partitioner configured, or the count unknown).
  int32_t PartitionCountForOwnPartitioning(rd_kafka_topic_s* topic);
  // Looks the partition count up when it is unknown or due for a refresh.
  void RefreshPartitionCount(rd_kafka_topic_s* topic);
  // Fills batch_ with the messages, grouped by partition when partition_count > 0 (stable: each
  // partition's messages keep their order).
  void FillBatch(std::span<const KeyedValue> messages, int32_t partition_count);

  ProducerCallbacks callbacks_;
  ErrorLogLimiter error_lines_;  // for the errors on_error does not take
  bool print_errors_ = true;     // log_level lets librdkafka's error lines through
  DeliveryCounts counts_;
  std::string fatal_error_;
  std::optional<ClientStatistics> statistics_;
  std::vector<rd_kafka_vu_s> fields_;
  std::vector<rd_kafka_message_s> batch_;  // ProduceBatch's array, reused between calls
  std::vector<int32_t> partition_of_;      // FillBatch's scratch, reused between calls
  std::vector<size_t> partition_starts_;   // FillBatch's scratch, reused between calls
  // librdkafka's default partitioner is configured, so ProduceBatch may partition by itself.
  bool default_partitioner_ = false;
  int32_t partition_count_ = -1;  // for topic_: -1 not looked up yet, 0 left to librdkafka
  std::chrono::steady_clock::time_point partition_count_expires_;
  std::string topic_name_;
  rd_kafka_topic_s* topic_ = nullptr;  // for topic_name_; released before the client
  std::vector<std::string> header_names_;
  rd_kafka_s* handle_ = nullptr;  // owned: the destructor purges, then destroys it
};

}  // namespace clickstream::kafka
