// An owned librdkafka consumer in a group. The caller decides where each assigned partition starts
// (the sink knows it better than the group's committed offsets), so assignment goes through a
// listener that fills in the start offsets before the consumer is assigned them.
// Rebalance callbacks run on the thread that calls Poll() or Close(). Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "kafka/client_statistics.h"
#include "kafka/config.h"

struct rd_kafka_message_s;
struct rd_kafka_s;
struct rd_kafka_topic_partition_list_s;

namespace clickstream::kafka {

class FetchWaker;

// Start at the group's committed offset (else auto.offset.reset).
inline constexpr int64_t kStoredOffset = -1000;

// One message fetched by Poll(), or an error carried as a message. Owns it.
class Message {
 public:
  explicit Message(rd_kafka_message_s* message) : message_(message) {}
  ~Message();
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  // An error instead of a message; fatal ones mean the client cannot go on.
  bool is_error() const;
  bool is_fatal() const;
  // End of a partition reached (only with enable.partition.eof): neither a message nor a problem.
  bool is_partition_eof() const;
  // The subscribed topic does not exist (yet): the group has nothing to assign.
  bool is_unknown_topic() const;
  std::string error_text() const;  // with the error's name, e.g. "Broker: ... (_TRANSPORT)"

  int32_t partition() const;
  int64_t offset() const;
  // The message's timestamp in milliseconds since the epoch (the producer's create time, or the
  // broker's log-append time); -1 when it has none.
  int64_t timestamp_ms() const;
  // Null (no value, a tombstone) is not the same as an empty value.
  bool has_value() const;
  std::string_view value() const;
  std::string_view key() const;  // empty for a null key
  bool has_key() const;

 private:
  rd_kafka_message_s* message_;
};

struct AssignedPartition {
  int32_t partition = 0;
  int64_t start_offset = kStoredOffset;
};

class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // Set each partition's start_offset (kStoredOffset: the group's committed offset, else
  // auto.offset.reset). Return an error to take none of them.
  virtual arrow::Status OnAssign(std::vector<AssignedPartition>* partitions) = 0;
  // The partitions are about to go to another member. `lost`: the group already gave them to
  // another member (this one missed its session timeout), so nothing more may land for them.
  virtual void OnRevoke(const std::vector<int32_t>& partitions, bool lost) = 0;
};

// MakeConf for a Consumer: `defaults`, then what the running librdkafka's fetch refill path needs
// (fetch.queue.backoff.ms where it exists, see FetchRefillPathFor), then the user's -F and -X, which
// still win.
arrow::Result<ConfPtr> MakeConsumerConf(const KafkaOptions& options, std::vector<Property> defaults);

class Consumer {
 public:
  // Takes the configuration (MakeConf with group.id set) and creates the client. The listener
  // must outlive the consumer.
  static arrow::Result<std::unique_ptr<Consumer>> Make(ConfPtr conf, RebalanceListener* listener);
  // Closes (leaving the group) unless Close() was called, then destroys the handle.
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  arrow::Status Subscribe(const std::string& topic);
  // A message, an error carried as a message, or null after the timeout.
  std::unique_ptr<Message> Poll(int timeout_ms);
  // Whether the last Poll() had to wait: when it did not, the message was already in librdkafka's
  // queue, and the caller's last clock reading is still about as good as a new one.
  bool last_poll_waited() const { return last_poll_waited_; }
  // Commits the next offset to read for each partition of the subscribed topic.
  arrow::Status Commit(const std::map<int32_t, int64_t>& next_offsets, bool async);
  // Moves the given assigned partitions to new start offsets (after the sink said where they are).
  arrow::Status Rewind(const std::map<int32_t, int64_t>& next_offsets);
  // The subscribed topic's partition count from the cluster's metadata; nullopt when the topic
  // does not exist.
  arrow::Result<std::optional<int>> PartitionCount(int timeout_ms);
  // The partition's high watermark as last fetched (no request): -1 when unknown.
  int64_t HighWatermark(int32_t partition);
  // Revokes the assignment through the listener and leaves the group at once, so the partitions
  // move to the other members without waiting for the session timeout.
  arrow::Status Close();
  // The statistics librdkafka emitted since the last call (statistics.interval.ms), if any.
  std::optional<ClientStatistics> TakeStatistics();
  // The last assignment failure reported by the listener, if any.
  const arrow::Status& assign_error() const { return assign_error_; }

 private:
  friend struct RebalanceTrampoline;
  friend struct StatisticsTrampoline;
  explicit Consumer(RebalanceListener* listener);
  void Assign(rd_kafka_topic_partition_list_s* partitions);
  void Revoke(rd_kafka_topic_partition_list_s* partitions);
  void TrackAssignment(rd_kafka_topic_partition_list_s* partitions, bool assigned);

  RebalanceListener* listener_;
  arrow::Status assign_error_;
  bool closed_ = false;
  bool last_poll_waited_ = true;
  std::string topic_;
  std::set<int32_t> assigned_;
  std::optional<ClientStatistics> statistics_;
  rd_kafka_s* handle_ = nullptr;
  // Keeps librdkafka 2.0's fetcher from sleeping on a drained queue (see fetch_waker.h); null with
  // a librdkafka that has fetch.queue.backoff.ms.
  std::unique_ptr<FetchWaker> fetch_waker_;
};

}  // namespace clickstream::kafka
