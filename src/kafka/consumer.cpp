#include "kafka/consumer.h"

#include <cstring>

#include <librdkafka/rdkafka.h>

#include "kafka/fetch_refill.h"
#include "kafka/fetch_waker.h"
#include "kafka/handle.h"

namespace clickstream::kafka {

static_assert(kStoredOffset == RD_KAFKA_OFFSET_STORED);

namespace {

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const { rd_kafka_topic_partition_list_destroy(list); }
};
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

PartitionListPtr ToPartitionList(const std::string& topic, const std::map<int32_t, int64_t>& offsets) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [partition, offset] : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = offset;
  }
  return list;
}

// librdkafka answers NULL while the member is not in a group, e.g. when the coordinator no longer
// knows it and the consumer is closing: that is not the cooperative protocol.
bool IsCooperative(rd_kafka_t* handle) {
  const char* protocol = rd_kafka_rebalance_protocol(handle);
  return protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
}

}  // namespace

arrow::Result<ConfPtr> MakeConsumerConf(const KafkaOptions& options, std::vector<Property> defaults) {
  // librdkafka's 1 s default is the tick the waker exists to beat; at 1 ms the fetcher looks again
  // as soon as the application has read the queue below its limits, which was measured to read as
  // fast as 2.0.2 with the waker.
  if (RunningFetchRefillPath() == FetchRefillPath::kQueueBackoff) defaults.emplace_back("fetch.queue.backoff.ms", "1");
  return MakeConf(options, defaults);
}

Message::~Message() { rd_kafka_message_destroy(message_); }
bool Message::is_error() const {
  return message_->err != RD_KAFKA_RESP_ERR_NO_ERROR && message_->err != RD_KAFKA_RESP_ERR__PARTITION_EOF;
}
bool Message::is_fatal() const { return message_->err == RD_KAFKA_RESP_ERR__FATAL; }
bool Message::is_partition_eof() const { return message_->err == RD_KAFKA_RESP_ERR__PARTITION_EOF; }
bool Message::is_unknown_topic() const {
  return message_->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || message_->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
}
std::string Message::error_text() const {
  return std::string(rd_kafka_message_errstr(message_)) + " (" + rd_kafka_err2name(message_->err) + ")";
}
int32_t Message::partition() const { return message_->partition; }
int64_t Message::offset() const { return message_->offset; }
int64_t Message::timestamp_ms() const {
  rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  return rd_kafka_message_timestamp(message_, &type);
}
bool Message::has_value() const { return message_->payload != nullptr; }
std::string_view Message::value() const {
  return message_->payload == nullptr ? std::string_view()
                                      : std::string_view(static_cast<const char*>(message_->payload), message_->len);
}
bool Message::has_key() const { return message_->key != nullptr; }
std::string_view Message::key() const {
  return message_->key == nullptr ? std::string_view()
                                  : std::string_view(static_cast<const char*>(message_->key), message_->key_len);
}

// librdkafka calls back through a plain function; this one reaches the consumer's private side.
struct RebalanceTrampoline {
  static void OnRebalance(rd_kafka_t* /*handle*/, rd_kafka_resp_err_t error,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* self = static_cast<Consumer*>(opaque);
    if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->Assign(partitions);
    } else {
      self->Revoke(partitions);
    }
  }
};

// Statistics are served with everything else on the consumer queue, so on the thread that polls.
struct StatisticsTrampoline {
  static int OnStatistics(rd_kafka_t* /*handle*/, char* json, size_t length, void* opaque) {
    auto* self = static_cast<Consumer*>(opaque);
    auto parsed = ParseClientStatistics(std::string_view(json, length), self->topic_);
    if (parsed.ok()) self->statistics_ = std::move(*parsed);
    return 0;  // librdkafka frees the JSON
  }
};

arrow::Result<std::unique_ptr<Consumer>> Consumer::Make(ConfPtr conf, RebalanceListener* listener) {
  std::unique_ptr<Consumer> consumer(new Consumer(listener));
  rd_kafka_conf_set_opaque(conf.get(), consumer.get());
  rd_kafka_conf_set_rebalance_cb(conf.get(), &RebalanceTrampoline::OnRebalance);
  rd_kafka_conf_set_stats_cb(conf.get(), &StatisticsTrampoline::OnStatistics);
  // No error_cb, on purpose: librdkafka then logs the client's errors itself ("2/2 brokers are down"
  // on a stopped broker, repeats of one error folded into "N identical error(s) suppressed"), and
  // the consumer's own errors (an unknown topic, a fatal one) still come out of Poll() as messages.
  ARROW_ASSIGN_OR_RAISE(HandlePtr handle, NewHandle(RD_KAFKA_CONSUMER, &conf, "consumer"));
  // The consumer tears its handle down itself, in an order HandlePtr cannot know.
  consumer->handle_ = handle.release();
  // Serve everything (logs, errors, rebalances) from the consumer queue that Poll() reads.
  rd_kafka_poll_set_consumer(consumer->handle_);
  return consumer;
}

Consumer::Consumer(RebalanceListener* listener) : listener_(listener) {}

Consumer::~Consumer() {
  if (handle_ == nullptr) return;
  if (!closed_) (void)Close();
  fetch_waker_.reset();  // holds a reference to the consumer queue, which must go before the handle
  rd_kafka_destroy(handle_);
}

arrow::Status Consumer::Subscribe(const std::string& topic) {
  topic_ = topic;
  if (RunningFetchRefillPath() == FetchRefillPath::kWaker) fetch_waker_ = std::make_unique<FetchWaker>(handle_, topic_);
  PartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t error = rd_kafka_subscribe(handle_, topics.get());
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return arrow::Status::IOError("cannot subscribe to ", topic, ": ", rd_kafka_err2str(error));
  }
  return arrow::Status::OK();
}

std::unique_ptr<Message> Consumer::Poll(int timeout_ms) {
  // A poll that need not wait skips librdkafka's reading of the clock for its timeout.
  rd_kafka_message_t* message = rd_kafka_consumer_poll(handle_, 0);
  last_poll_waited_ = message == nullptr;
  if (message == nullptr && timeout_ms > 0) message = rd_kafka_consumer_poll(handle_, timeout_ms);
  if (message == nullptr) {
    if (fetch_waker_) fetch_waker_->OnEmptyPoll();
    return nullptr;
  }
  if (fetch_waker_) fetch_waker_->OnMessage(message->len + message->key_len);
  return std::make_unique<Message>(message);
}

arrow::Status Consumer::Commit(const std::map<int32_t, int64_t>& next_offsets, bool async) {
  if (next_offsets.empty()) return arrow::Status::OK();
  const PartitionListPtr list = ToPartitionList(topic_, next_offsets);
  const rd_kafka_resp_err_t error = rd_kafka_commit(handle_, list.get(), async ? 1 : 0);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    return arrow::Status::IOError("cannot commit offsets: ", rd_kafka_err2str(error));
  }
  return arrow::Status::OK();
}

arrow::Status Consumer::Rewind(const std::map<int32_t, int64_t>& next_offsets) {
  if (next_offsets.empty()) return arrow::Status::OK();
  const PartitionListPtr list = ToPartitionList(topic_, next_offsets);
  if (rd_kafka_error_t* error = rd_kafka_seek_partitions(handle_, list.get(), 10'000)) {
    const std::string reason = rd_kafka_error_string(error);
    rd_kafka_error_destroy(error);
    return arrow::Status::IOError("cannot move to the landed offsets: ", reason);
  }
  for (int i = 0; i < list->cnt; ++i) {
    if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return arrow::Status::IOError("cannot move partition ", list->elems[i].partition,
                                    " to its landed offset: ", rd_kafka_err2str(list->elems[i].err));
    }
  }
  return arrow::Status::OK();
}

arrow::Result<std::optional<int>> Consumer::PartitionCount(int timeout_ms) {
  rd_kafka_topic_t* topic = rd_kafka_topic_new(handle_, topic_.c_str(), nullptr);
  if (topic == nullptr) return arrow::Status::IOError("cannot look up topic ", topic_);
  const rd_kafka_metadata_t* metadata = nullptr;
  const rd_kafka_resp_err_t error = rd_kafka_metadata(handle_, 0, topic, &metadata, timeout_ms);
  rd_kafka_topic_destroy(topic);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return arrow::Status::IOError("cannot read metadata of ", topic_, ": ", rd_kafka_err2str(error));
  }
  std::optional<int> count;
  if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
      metadata->topics[0].partition_cnt > 0) {
    count = metadata->topics[0].partition_cnt;
  }
  rd_kafka_metadata_destroy(metadata);
  return count;
}

int64_t Consumer::HighWatermark(int32_t partition) {
  int64_t low = 0;
  int64_t high = 0;
  if (rd_kafka_get_watermark_offsets(handle_, topic_.c_str(), partition, &low, &high) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return -1;
  }
  return high;
}

std::optional<ClientStatistics> Consumer::TakeStatistics() {
  std::optional<ClientStatistics> taken = std::move(statistics_);
  statistics_.reset();
  return taken;
}

arrow::Status Consumer::Close() {
  if (closed_) return arrow::Status::OK();
  closed_ = true;
  // Its requests must not race the close.
  if (fetch_waker_) fetch_waker_->Stop();
  const rd_kafka_resp_err_t error = rd_kafka_consumer_close(handle_);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return arrow::Status::IOError("cannot close the Kafka consumer cleanly: ", rd_kafka_err2str(error));
  }
  return arrow::Status::OK();
}

void Consumer::Assign(rd_kafka_topic_partition_list_t* partitions) {
  std::vector<AssignedPartition> assigned;
  assigned.reserve(static_cast<size_t>(partitions->cnt));
  for (int i = 0; i < partitions->cnt; ++i) assigned.push_back(AssignedPartition{partitions->elems[i].partition});
  assign_error_ = listener_->OnAssign(&assigned);
  const bool cooperative = IsCooperative(handle_);
  if (!assign_error_.ok()) {
    // Taking the partitions without knowing where to start could duplicate or skip events.
    if (!cooperative) rd_kafka_assign(handle_, nullptr);
    return;
  }
  for (int i = 0; i < partitions->cnt; ++i) partitions->elems[i].offset = assigned[static_cast<size_t>(i)].start_offset;
  if (cooperative) {
    if (rd_kafka_error_t* failure = rd_kafka_incremental_assign(handle_, partitions)) {
      assign_error_ = arrow::Status::IOError("cannot assign partitions: ", rd_kafka_error_string(failure));
      rd_kafka_error_destroy(failure);
      return;
    }
    TrackAssignment(partitions, /*assigned=*/true);
    return;
  }
  const rd_kafka_resp_err_t code = rd_kafka_assign(handle_, partitions);
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    assign_error_ = arrow::Status::IOError("cannot assign partitions: ", rd_kafka_err2str(code));
    return;
  }
  assigned_.clear();
  TrackAssignment(partitions, /*assigned=*/true);
}

void Consumer::Revoke(rd_kafka_topic_partition_list_t* partitions) {
  std::vector<int32_t> revoked;
  revoked.reserve(static_cast<size_t>(partitions->cnt));
  for (int i = 0; i < partitions->cnt; ++i) revoked.push_back(partitions->elems[i].partition);
  listener_->OnRevoke(revoked, rd_kafka_assignment_lost(handle_) != 0);
  TrackAssignment(partitions, /*assigned=*/false);
  if (IsCooperative(handle_)) {
    if (rd_kafka_error_t* failure = rd_kafka_incremental_unassign(handle_, partitions)) {
      rd_kafka_error_destroy(failure);
    }
    return;
  }
  rd_kafka_assign(handle_, nullptr);
}

void Consumer::TrackAssignment(rd_kafka_topic_partition_list_t* partitions, bool assigned) {
  for (int i = 0; i < partitions->cnt; ++i) {
    if (assigned) {
      assigned_.insert(partitions->elems[i].partition);
    } else {
      assigned_.erase(partitions->elems[i].partition);
    }
  }
  if (fetch_waker_) fetch_waker_->SetPartitions(std::vector<int32_t>(assigned_.begin(), assigned_.end()));
}

}  // namespace clickstream::kafka
