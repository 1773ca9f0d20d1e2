// The dead-letter topic: invalid messages go there unchanged (key and value), with headers that
// say why and where they came from. Kafka Connect's errors.tolerance=all with a DLQ, in short.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/result.h>

#include "kafka/config.h"
#include "kafka/consumer.h"
#include "kafka/producer.h"

namespace clickstream::consume {

// Header names on every dead letter.
namespace dead_letter_header {
inline constexpr char kReason[] = "reason";
// One of a bounded set (oversized, null_value, and DecodeFailureCode's): the label the dead-letter
// counter of the consumer's metrics is kept by.
inline constexpr char kReasonCode[] = "reason.code";
inline constexpr char kSourceTopic[] = "source.topic";
inline constexpr char kSourcePartition[] = "source.partition";
inline constexpr char kSourceOffset[] = "source.offset";
}  // namespace dead_letter_header

// The partition count a missing dead-letter topic is created with: the source topic's, as the
// cluster's metadata gives it (`source_count`; nullopt when the topic does not exist). Never a
// guess: a topic created with the wrong count keeps it, so an unknown count is an error that says
// why.
arrow::Result<int> DeadLetterPartitions(const arrow::Result<std::optional<int>>& source_count,
                                        std::string_view source_topic, std::string_view dead_letter_topic);

class DeadLetterQueue {
 public:
  // `partitions`: how many the topic gets when this creates it.
  static arrow::Result<std::unique_ptr<DeadLetterQueue>> Make(const kafka::KafkaOptions& options, std::string topic,
                                                              int partitions);

  // Enqueues the message; the topic is created on the first dead letter if it is missing.
  arrow::Status Send(const kafka::Message& message, std::string_view source_topic, std::string_view reason,
                     std::string_view reason_code);

  // Waits until every dead letter sent so far is acknowledged by the broker. Offsets past a dead
  // letter may only become durable after this returned OK, or a crash could lose it.
  arrow::Status Flush(std::chrono::milliseconds timeout);
  bool HasUnflushed() const { return producer_->counts().in_flight() > 0 || failed_since_flush_ > 0; }

  int64_t delivered() const { return producer_->counts().delivered; }
  const std::string& topic() const { return topic_; }

 private:
  DeadLetterQueue(kafka::KafkaOptions options, std::string topic, int partitions);
  arrow::Status EnsureTopicOnce();

  kafka::KafkaOptions options_;
  std::string topic_;
  int partitions_;
  bool topic_ready_ = false;
  int64_t failed_since_flush_ = 0;
  std::string first_failure_;
  std::unique_ptr<kafka::Producer> producer_;
};

}  // namespace clickstream::consume
