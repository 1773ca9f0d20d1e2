#include "kafka/producer.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "common/log.h"
#include "kafka/handle.h"

namespace clickstream::kafka {

static_assert(kAnyPartition == RD_KAFKA_PARTITION_UA);

namespace {

// How long ProduceBatch waits for the topic's partition count before it leaves partitioning to
// librdkafka: only the fast path depends on it, never where a message goes.
constexpr int kPartitionCountTimeoutMs = 1000;
// How often the partition count is looked up again: partitions added to the topic during a long
// replay then take effect about as soon as librdkafka's own metadata refresh would notice them.
constexpr std::chrono::seconds kPartitionCountRefresh{30};
// At most one line per error code this often: an outage of a minute is a handful of lines.
constexpr std::chrono::seconds kErrorLineInterval{10};

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* metadata) const { rd_kafka_metadata_destroy(metadata); }
};

// True when the configuration keeps librdkafka's default partitioner, consistent_random: a message
// with a key goes to crc32(key) % partitions, one without a key to a random partition.
bool UsesDefaultPartitioner(const rd_kafka_conf_t* conf) {
  char value[64];
  size_t size = sizeof(value);
  const rd_kafka_conf_res_t result = rd_kafka_conf_get(conf, "partitioner", value, &size);
  // Unknown: no topic-level property was set at all, so the default holds.
  if (result == RD_KAFKA_CONF_UNKNOWN) return true;
  return result == RD_KAFKA_CONF_OK && std::string_view(value) == "consistent_random";
}

// librdkafka's own error lines are at syslog's LOG_ERR, shown while log_level is at least that.
constexpr int kLogErrorLevel = 3;

bool LogsErrors(const rd_kafka_conf_t* conf) {
  char value[16];
  size_t size = sizeof(value);
  if (rd_kafka_conf_get(conf, "log_level", value, &size) != RD_KAFKA_CONF_OK) return true;
  return std::atoi(value) >= kLogErrorLevel;
}

// What a producer without an on_error callback does with a client error: a line on stderr, the
// repeats of a non-fatal one held back (see error_log.h). librdkafka logs errors itself only while no
// error_cb is registered, and the producer always registers one, to record fatal errors. Being the
// default here rather than set by each caller, no producer (the replay's, the dead-letter queue's, a
// future one) can leave the slot empty and silence "all brokers are down"; the line names the client
// by its client.id, which is what a caller would have added. -X log_level below 3 silences it, as
// it silences librdkafka's own error lines.
void PrintClientError(rd_kafka_t* handle, rd_kafka_resp_err_t code, bool fatal, const char* reason,
                      ErrorLogLimiter* limiter) {
  const std::string client = rd_kafka_name(handle);
  if (fatal) {
    Log(LogLevel::kError, "kafka", fmt::format("{}: fatal: {}", client, reason), {{"client", client}});
    return;
  }
  const std::optional<int64_t> held_back = limiter->Admit(code, ErrorLogLimiter::Clock::now());
  if (!held_back) return;
  Log(LogLevel::kError, "kafka",
      fmt::format("{}: {} ({}{})", client, reason, rd_kafka_err2name(code),
                  *held_back > 0 ? fmt::format("; {} more since its last line", *held_back) : ""),
      {{"client", client}, {"error", rd_kafka_err2name(code)}, {"held_back", *held_back}});
}

}  // namespace

// librdkafka calls back through plain functions; these reach the producer's private side.
struct ProducerCallbackTrampoline {
  static void OnDelivery(rd_kafka_t* /*handle*/, const rd_kafka_message_t* message, void* opaque) {
    auto* self = static_cast<Producer*>(opaque);
    const bool delivered = message->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (delivered) {
      ++self->counts_.delivered;
    } else {
      ++self->counts_.failed;
    }
    if (self->callbacks_.on_delivery) {
      self->callbacks_.on_delivery(DeliveryReport{delivered, delivered ? "" : rd_kafka_err2str(message->err),
                                                  delivered ? "" : rd_kafka_err2name(message->err),
                                                  message->partition, message->offset, message->_private});
    }
  }

  static int OnStatistics(rd_kafka_t* /*handle*/, char* json, size_t length, void* opaque) {
    auto parsed = ParseClientStatistics(std::string_view(json, length), "");
    if (parsed.ok()) static_cast<Producer*>(opaque)->statistics_ = std::move(*parsed);
    return 0;  // librdkafka frees the JSON
  }

  static void OnError(rd_kafka_t* handle, int error, const char* reason, void* opaque) {
    auto* self = static_cast<Producer*>(opaque);
    auto code = static_cast<rd_kafka_resp_err_t>(error);
    const bool fatal = code == RD_KAFKA_RESP_ERR__FATAL;
    if (fatal) {
      char fatal_reason[512];
      code = rd_kafka_fatal_error(handle, fatal_reason, sizeof(fatal_reason));
      self->fatal_error_ = std::string(rd_kafka_err2name(code)) + ": " + fatal_reason;
      reason = self->fatal_error_.c_str();
    }
    if (self->callbacks_.on_error) {
      self->callbacks_.on_error(fatal, reason);
    } else if (self->print_errors_) {
      PrintClientError(handle, code, fatal, reason, &self->error_lines_);
    }
  }
};

Producer::Producer(ProducerCallbacks callbacks)
    : callbacks_(std::move(callbacks)), error_lines_(kErrorLineInterval) {}

arrow::Result<std::unique_ptr<Producer>> Producer::Make(ConfPtr conf, ProducerCallbacks callbacks) {
  std::unique_ptr<Producer> producer(new Producer(std::move(callbacks)));
  rd_kafka_conf_set_opaque(conf.get(), producer.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &ProducerCallbackTrampoline::OnDelivery);
  rd_kafka_conf_set_error_cb(conf.get(), &ProducerCallbackTrampoline::OnError);
  rd_kafka_conf_set_stats_cb(conf.get(), &ProducerCallbackTrampoline::OnStatistics);
  producer->default_partitioner_ = UsesDefaultPartitioner(conf.get());
  producer->print_errors_ = LogsErrors(conf.get());
  ARROW_ASSIGN_OR_RAISE(HandlePtr handle, NewHandle(RD_KAFKA_PRODUCER, &conf, "producer"));
  // The producer tears its handle down itself, in an order HandlePtr cannot know.
  producer->handle_ = handle.release();
  return producer;
}

Producer::~Producer() {
  if (handle_ == nullptr) return;
  // Purging first keeps destruction bounded even when the brokers are unreachable.
  rd_kafka_purge(handle_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_poll(handle_, 0);
  if (topic_ != nullptr) rd_kafka_topic_destroy(topic_);
  rd_kafka_destroy(handle_);
}

arrow::Status Producer::Produce(const OutgoingMessage& message, const std::atomic<bool>* stop) {
  // Topic, partition, key, value, flags, opaque, then one entry per header. The vectors are
  // members so the hot path reuses their storage instead of allocating per message.
  rd_kafka_topic_t* topic = TopicHandle(message.topic);
  if (topic == nullptr) {
    return arrow::Status::IOError("cannot produce to ", message.topic, ": ",
                                  rd_kafka_err2str(rd_kafka_last_error()));
  }
  fields_.resize(6 + message.headers.size());
  fields_[0].vtype = RD_KAFKA_VTYPE_RKT;
  fields_[0].u.rkt = topic;
  fields_[1].vtype = RD_KAFKA_VTYPE_PARTITION;
  fields_[1].u.i32 = message.partition;
  fields_[2].vtype = RD_KAFKA_VTYPE_KEY;
  fields_[2].u.mem = {const_cast<char*>(message.key.data()), message.key.size()};
  fields_[3].vtype = RD_KAFKA_VTYPE_VALUE;
  fields_[3].u.mem = {const_cast<char*>(message.value.data()), message.value.size()};
  fields_[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  fields_[4].u.i = RD_KAFKA_MSG_F_COPY;
  fields_[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
  fields_[5].u.ptr = message.opaque;
  header_names_.resize(message.headers.size());
  for (size_t i = 0; i < message.headers.size(); ++i) {
    header_names_[i].assign(message.headers[i].name);
    rd_kafka_vu_t& field = fields_[6 + i];
    field.vtype = RD_KAFKA_VTYPE_HEADER;
    field.u.header = {header_names_[i].c_str(), message.headers[i].value.data(),
                      static_cast<ssize_t>(message.headers[i].value.size())};
  }

  while (true) {
    rd_kafka_error_t* error = rd_kafka_produceva(handle_, fields_.data(), fields_.size());
    if (error == nullptr) {
      ++counts_.produced;
      return arrow::Status::OK();
    }
    const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    const std::string reason = rd_kafka_error_string(error);
    rd_kafka_error_destroy(error);
    if (code != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      return arrow::Status::IOError("cannot produce to ", message.topic, ": ", reason);
    }
    // The queue drains as the broker acknowledges; serving reports is what frees the room.
    if (stop != nullptr && stop->load()) return arrow::Status::Cancelled("stopped while the queue was full");
    rd_kafka_poll(handle_, 100);
  }
}

arrow::Status Producer::ProduceBatch(std::string_view topic_name, std::span<const KeyedValue> messages,
                                    BatchOutcome* outcome, const std::atomic<bool>* stop) {
  rd_kafka_topic_t* topic = TopicHandle(topic_name);
  if (topic == nullptr) {
    return arrow::Status::IOError("cannot produce to ", topic_name, ": ", rd_kafka_err2str(rd_kafka_last_error()));
  }
  RefreshPartitionCount(topic);
  FillBatch(messages, partition_count_);
  size_t next = 0;
  while (next < batch_.size()) {
    rd_kafka_message_t* first = batch_.data() + next;
    const size_t count = batch_.size() - next;
    // F_PARTITION: each message's own partition (kAnyPartition ones still go to the partitioner).
    rd_kafka_produce_batch(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_PARTITION, first,
                           static_cast<int>(count));
    // librdkafka refuses every message after the first that met a full queue, so the accepted ones
    // are the ones before it, minus those refused for their own reasons.
    size_t refused_for_room = count;
    for (size_t i = 0; i < count; ++i) {
      const rd_kafka_resp_err_t code = first[i].err;
      if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++outcome->enqueued;
        ++counts_.produced;
      } else if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        refused_for_room = i;
        break;
      } else {
        ++outcome->failed;
        ++outcome->failed_by_name[rd_kafka_err2name(code)];
        if (outcome->first_error.empty()) {
          outcome->first_error = std::string("cannot produce to ") + std::string(topic_name) + ": " + rd_kafka_err2str(code);
        }
      }
    }
    next += refused_for_room;
    if (next == batch_.size()) break;
    // The queue drains as the broker acknowledges; serving reports is what frees the room.
    if (stop != nullptr && stop->load()) return arrow::Status::Cancelled("stopped while the queue was full");
    rd_kafka_poll(handle_, 100);
  }
  return arrow::Status::OK();
}

void Producer::PrepareTopic(std::string_view topic_name) {
  rd_kafka_topic_t* topic = TopicHandle(topic_name);
  if (topic != nullptr) RefreshPartitionCount(topic);
}

void Producer::RefreshPartitionCount(rd_kafka_topic_t* topic) {
  const auto now = std::chrono::steady_clock::now();
  if (partition_count_ >= 0 && now < partition_count_expires_) return;
  partition_count_ = PartitionCountForOwnPartitioning(topic);
  partition_count_expires_ = now + kPartitionCountRefresh;
}

int32_t Producer::PartitionCountForOwnPartitioning(rd_kafka_topic_t* topic) {
  if (!default_partitioner_) return 0;
  const rd_kafka_metadata_t* raw = nullptr;
  if (rd_kafka_metadata(handle_, 0, topic, &raw, kPartitionCountTimeoutMs) != RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
  const std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> metadata(raw);
  if (metadata->topic_cnt != 1 || metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
  return metadata->topics[0].partition_cnt;
}

void Producer::FillBatch(std::span<const KeyedValue> messages, int32_t partition_count) {
  const size_t count = messages.size();
  batch_.resize(count);
  auto fill = [&](rd_kafka_message_t& entry, const KeyedValue& message, int32_t partition) {
    entry = rd_kafka_message_t{};
    entry.partition = partition;
    entry.payload = const_cast<char*>(message.value.data());
    entry.len = message.value.size();
    entry.key = const_cast<char*>(message.key.data());
    entry.key_len = message.key.size();
  };
  if (partition_count <= 0) {
    for (size_t i = 0; i < count; ++i) fill(batch_[i], messages[i], RD_KAFKA_PARTITION_UA);
    return;
  }
  // A stable counting sort by partition. Slot partition_count holds the messages without a key,
  // which consistent_random spreads at random: librdkafka partitions those itself.
  const auto keyless = static_cast<size_t>(partition_count);
  partition_of_.resize(count);
  partition_starts_.assign(keyless + 2, 0);
  for (size_t i = 0; i < count; ++i) {
    const std::string_view key = messages[i].key;
    const size_t slot = key.empty() ? keyless
                                    : static_cast<size_t>(rd_kafka_msg_partitioner_consistent(
                                          topic_, key.data(), key.size(), partition_count, nullptr, nullptr));
    partition_of_[i] = static_cast<int32_t>(slot);
    ++partition_starts_[slot + 1];
  }
  for (size_t slot = 1; slot < partition_starts_.size(); ++slot) partition_starts_[slot] += partition_starts_[slot - 1];
  for (size_t i = 0; i < count; ++i) {
    const auto slot = static_cast<size_t>(partition_of_[i]);
    fill(batch_[partition_starts_[slot]++], messages[i], slot == keyless ? RD_KAFKA_PARTITION_UA : partition_of_[i]);
  }
}

rd_kafka_topic_t* Producer::TopicHandle(std::string_view name) {
  if (topic_ != nullptr && name == topic_name_) return topic_;
  if (topic_ != nullptr) rd_kafka_topic_destroy(topic_);
  topic_name_.assign(name);  // librdkafka wants NUL-terminated names
  topic_ = rd_kafka_topic_new(handle_, topic_name_.c_str(), nullptr);
  partition_count_ = -1;
  return topic_;
}

std::optional<ClientStatistics> Producer::TakeStatistics() {
  std::optional<ClientStatistics> taken = std::move(statistics_);
  statistics_.reset();
  return taken;
}

void Producer::Poll(int timeout_ms) { rd_kafka_poll(handle_, timeout_ms); }

arrow::Status Producer::Flush(std::chrono::milliseconds timeout) {
  rd_kafka_flush(handle_, static_cast<int>(timeout.count()));
  rd_kafka_poll(handle_, 0);  // serve reports that arrived at the very end
  const int remaining = rd_kafka_outq_len(handle_);
  if (remaining > 0) {
    return arrow::Status::IOError(remaining, " messages still in flight after ", timeout.count(), " ms");
  }
  return arrow::Status::OK();
}

arrow::Status Producer::FatalError() const {
  if (fatal_error_.empty()) return arrow::Status::OK();
  return arrow::Status::IOError("fatal Kafka producer error: ", fatal_error_);
}

}  // namespace clickstream::kafka
