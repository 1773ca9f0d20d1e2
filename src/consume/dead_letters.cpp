#include "consume/dead_letters.h"

#include <array>

#include "kafka/admin.h"

namespace clickstream::consume {

arrow::Result<int> DeadLetterPartitions(const arrow::Result<std::optional<int>>& source_count,
                                        std::string_view source_topic, std::string_view dead_letter_topic) {
  if (!source_count.ok()) {
    return arrow::Status::IOError("cannot size the dead-letter topic ", dead_letter_topic, " like ", source_topic,
                                  ": ", source_count.status().message());
  }
  if (!source_count->has_value()) {
    return arrow::Status::IOError("cannot size the dead-letter topic ", dead_letter_topic, ": the topic ",
                                  source_topic, " does not exist (deleted while consuming?)");
  }
  return **source_count;
}

DeadLetterQueue::DeadLetterQueue(kafka::KafkaOptions options, std::string topic, int partitions)
    : options_(std::move(options)), topic_(std::move(topic)), partitions_(partitions) {}

arrow::Result<std::unique_ptr<DeadLetterQueue>> DeadLetterQueue::Make(const kafka::KafkaOptions& options,
                                                                      std::string topic, int partitions) {
  std::unique_ptr<DeadLetterQueue> queue(new DeadLetterQueue(options, std::move(topic), partitions));
  // Idempotence keeps librdkafka's own retries from writing a dead letter twice; a bounded
  // message timeout turns an unreachable broker into an error instead of a five-minute wait.
  ARROW_ASSIGN_OR_RAISE(auto conf, kafka::MakeConf(options, {{"enable.idempotence", "true"},
                                                             {"acks", "all"},
                                                             {"linger.ms", "5"},
                                                             {"message.timeout.ms", "30000"},
                                                             {"client.id", "clickstream-consume-dlq"}}));
  DeadLetterQueue* self = queue.get();
  kafka::ProducerCallbacks callbacks;
  callbacks.on_delivery = [self](const kafka::DeliveryReport& report) {
    if (report.delivered) return;
    if (self->failed_since_flush_++ == 0) self->first_failure_ = report.error;
  };
  ARROW_ASSIGN_OR_RAISE(queue->producer_, kafka::Producer::Make(std::move(conf), std::move(callbacks)));
  return queue;
}

arrow::Status DeadLetterQueue::EnsureTopicOnce() {
  if (topic_ready_) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(const bool created, kafka::EnsureTopic(options_, kafka::TopicSpec{topic_, partitions_}));
  (void)created;
  topic_ready_ = true;
  return arrow::Status::OK();
}

arrow::Status DeadLetterQueue::Send(const kafka::Message& message, std::string_view source_topic,
                                    std::string_view reason, std::string_view reason_code) {
  ARROW_RETURN_NOT_OK(EnsureTopicOnce());
  const std::string partition = std::to_string(message.partition());
  const std::string offset = std::to_string(message.offset());
  const std::array<kafka::MessageHeader, 5> headers = {{
      {dead_letter_header::kReason, reason},
      {dead_letter_header::kReasonCode, reason_code},
      {dead_letter_header::kSourceTopic, source_topic},
      {dead_letter_header::kSourcePartition, partition},
      {dead_letter_header::kSourceOffset, offset},
  }};
  kafka::OutgoingMessage outgoing;
  outgoing.topic = topic_;
  // A null key or value stays null: default string_views (null data) reach librdkafka as NULL.
  outgoing.key = message.key();
  outgoing.value = message.value();
  outgoing.headers = headers;
  ARROW_RETURN_NOT_OK(producer_->Produce(outgoing));
  producer_->Poll(0);
  return arrow::Status::OK();
}

arrow::Status DeadLetterQueue::Flush(std::chrono::milliseconds timeout) {
  ARROW_RETURN_NOT_OK(producer_->Flush(timeout));
  ARROW_RETURN_NOT_OK(producer_->FatalError());
  // Sticky on purpose: a lost dead letter must stop every later batch from becoming durable, so
  // that a restart re-reads (and re-sends) it.
  if (failed_since_flush_ > 0) {
    return arrow::Status::IOError(failed_since_flush_, " dead letter(s) could not be delivered to ", topic_, ": ",
                                  first_failure_);
  }
  return arrow::Status::OK();
}

}  // namespace clickstream::consume
