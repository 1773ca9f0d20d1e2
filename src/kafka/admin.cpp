#include "kafka/admin.h"

#include "kafka/handle.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <librdkafka/rdkafka.h>

namespace clickstream::kafka {

namespace {

struct QueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
};
struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* topic) const { rd_kafka_NewTopic_destroy(topic); }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* options) const { rd_kafka_AdminOptions_destroy(options); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* event) const { rd_kafka_event_destroy(event); }
};

// The create request and its wait, with every librdkafka object owned.
arrow::Result<bool> CreateTopic(rd_kafka_t* handle, const TopicSpec& spec, std::chrono::milliseconds timeout) {
  char error[512];
  const std::string name(spec.name);
  std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter> new_topic(
      rd_kafka_NewTopic_new(name.c_str(), spec.partitions, spec.replication_factor, error, sizeof(error)));
  if (!new_topic) return arrow::Status::Invalid("topic ", name, ": ", error);

  std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter> admin_options(
      rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  const int timeout_ms = static_cast<int>(timeout.count());
  if (rd_kafka_AdminOptions_set_request_timeout(admin_options.get(), timeout_ms, error, sizeof(error)) ||
      rd_kafka_AdminOptions_set_operation_timeout(admin_options.get(), timeout_ms, error, sizeof(error))) {
    return arrow::Status::Invalid("admin timeout: ", error);
  }

  std::unique_ptr<rd_kafka_queue_t, QueueDeleter> queue(rd_kafka_queue_new(handle));
  rd_kafka_NewTopic_t* topics[] = {new_topic.get()};
  rd_kafka_CreateTopics(handle, topics, 1, admin_options.get(), queue.get());
  // The request's own timeout bounds the wait; the margin covers the client's bookkeeping.
  std::unique_ptr<rd_kafka_event_t, EventDeleter> event(rd_kafka_queue_poll(queue.get(), timeout_ms + 5000));
  if (!event) return arrow::Status::IOError("creating topic ", name, ": no answer within ", timeout_ms, " ms");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return arrow::Status::IOError("creating topic ", name, ": ", rd_kafka_event_error_string(event.get()));
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
  if (count != 1) return arrow::Status::IOError("creating topic ", name, ": unexpected answer");
  const rd_kafka_resp_err_t code = rd_kafka_topic_result_error(results[0]);
  if (code == RD_KAFKA_RESP_ERR_NO_ERROR) return true;
  if (code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) return false;
  const char* reason = rd_kafka_topic_result_error_string(results[0]);
  return arrow::Status::IOError("creating topic ", name, ": ", reason != nullptr ? reason : rd_kafka_err2str(code));
}

struct TopicDeleter {
  void operator()(rd_kafka_topic_t* topic) const { rd_kafka_topic_destroy(topic); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* metadata) const { rd_kafka_metadata_destroy(metadata); }
};

// Whether one broker's metadata answer shows the topic with all its partitions led.
bool TopicIsLed(rd_kafka_t* handle, rd_kafka_topic_t* topic, int partitions) {
  const rd_kafka_metadata_t* raw = nullptr;
  if (rd_kafka_metadata(handle, 0, topic, &raw, 1000) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> metadata(raw);
  if (metadata->topic_cnt != 1 || metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  const rd_kafka_metadata_topic_t& found = metadata->topics[0];
  if (found.partition_cnt != partitions) return false;
  for (int i = 0; i < found.partition_cnt; ++i) {
    if (found.partitions[i].leader < 0) return false;
  }
  return true;
}

// A created topic reaches the brokers' metadata caches one broker at a time. A producer that asks
// a broker which has not heard of it yet sees no partitions and fails every message it already
// assigned to one ("Unknown partition"), so creation waits until the cluster answers with the
// topic led, several answers in a row (each may come from another broker).
arrow::Status WaitUntilVisible(rd_kafka_t* handle, const TopicSpec& spec, std::chrono::milliseconds timeout) {
  constexpr int kAnswersInARow = 3;
  const std::string name(spec.name);
  std::unique_ptr<rd_kafka_topic_t, TopicDeleter> topic(rd_kafka_topic_new(handle, name.c_str(), nullptr));
  if (!topic) return arrow::Status::IOError("topic ", name, ": ", rd_kafka_err2str(rd_kafka_last_error()));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int in_a_row = 0;
  while (in_a_row < kAnswersInARow) {
    in_a_row = TopicIsLed(handle, topic.get(), spec.partitions) ? in_a_row + 1 : 0;
    if (in_a_row == kAnswersInARow) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      return arrow::Status::IOError("created topic ", name, ", but the cluster's metadata did not show its ",
                                    spec.partitions, " partitions with leaders within ", timeout.count(), " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<bool> EnsureTopic(ConfPtr conf, const TopicSpec& spec, std::chrono::milliseconds timeout) {
  ARROW_ASSIGN_OR_RAISE(HandlePtr handle, NewHandle(RD_KAFKA_PRODUCER, &conf, "admin client"));
  ARROW_ASSIGN_OR_RAISE(const bool created, CreateTopic(handle.get(), spec, timeout));
  if (created) ARROW_RETURN_NOT_OK(WaitUntilVisible(handle.get(), spec, timeout));
  return created;
}

arrow::Result<bool> EnsureTopic(const KafkaOptions& options, const TopicSpec& spec, std::chrono::milliseconds timeout) {
  ARROW_ASSIGN_OR_RAISE(ConfPtr conf, MakeConf(options, {}));
  return EnsureTopic(std::move(conf), spec, timeout);
}

}  // namespace clickstream::kafka
