#include "kafka/consumer.h"

#include <cstring>

namespace clickstream::kafka {

arrow::Result<std::unique_ptr<Consumer>> Consumer::Make(ConfPtr conf, RebalanceListener* listener) {
  std::unique_ptr<Consumer> consumer(new Consumer(listener));
  rd_kafka_conf_set_opaque(conf.get(), consumer.get());
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Consumer::OnRebalance);
  ARROW_ASSIGN_OR_RAISE(rd_kafka_t * handle, NewHandle(RD_KAFKA_CONSUMER, &conf, "consumer"));
  consumer->handle_ = handle;
  // Serve everything (logs, errors, rebalances) from the consumer queue that Poll() reads.
  rd_kafka_poll_set_consumer(handle);
  return consumer;
}

Consumer::~Consumer() {
  if (handle_ == nullptr) return;
  if (!closed_) (void)Close();
  rd_kafka_destroy(handle_);
}

arrow::Status Consumer::Subscribe(const std::string& topic) {
  PartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t error = rd_kafka_subscribe(handle_, topics.get());
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return arrow::Status::IOError("cannot subscribe to ", topic, ": ", rd_kafka_err2str(error));
  }
  return arrow::Status::OK();
}

MessagePtr Consumer::Poll(int timeout_ms) { return MessagePtr(rd_kafka_consumer_poll(handle_, timeout_ms)); }

arrow::Status Consumer::Commit(const rd_kafka_topic_partition_list_t* offsets, bool async) {
  const rd_kafka_resp_err_t error = rd_kafka_commit(handle_, offsets, async ? 1 : 0);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    return arrow::Status::IOError("cannot commit offsets: ", rd_kafka_err2str(error));
  }
  return arrow::Status::OK();
}

arrow::Status Consumer::Close() {
  if (closed_) return arrow::Status::OK();
  closed_ = true;
  const rd_kafka_resp_err_t error = rd_kafka_consumer_close(handle_);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return arrow::Status::IOError("cannot close the Kafka consumer cleanly: ", rd_kafka_err2str(error));
  }
  return arrow::Status::OK();
}

namespace {

bool IsCooperative(rd_kafka_t* handle) { return std::strcmp(rd_kafka_rebalance_protocol(handle), "COOPERATIVE") == 0; }

}  // namespace

void Consumer::OnRebalance(rd_kafka_t* /*handle*/, rd_kafka_resp_err_t error,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto* self = static_cast<Consumer*>(opaque);
  if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    self->Assign(partitions);
  } else {
    self->Revoke(partitions);
  }
}

void Consumer::Assign(rd_kafka_topic_partition_list_t* partitions) {
  assign_error_ = listener_->OnAssign(partitions);
  const bool cooperative = IsCooperative(handle_);
  if (!assign_error_.ok()) {
    // Taking the partitions without knowing where to start could duplicate or skip events.
    if (!cooperative) rd_kafka_assign(handle_, nullptr);
    return;
  }
  if (cooperative) {
    if (rd_kafka_error_t* failure = rd_kafka_incremental_assign(handle_, partitions)) {
      assign_error_ = arrow::Status::IOError("cannot assign partitions: ", rd_kafka_error_string(failure));
      rd_kafka_error_destroy(failure);
    }
    return;
  }
  const rd_kafka_resp_err_t code = rd_kafka_assign(handle_, partitions);
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    assign_error_ = arrow::Status::IOError("cannot assign partitions: ", rd_kafka_err2str(code));
  }
}

void Consumer::Revoke(rd_kafka_topic_partition_list_t* partitions) {
  listener_->OnRevoke(partitions);
  if (IsCooperative(handle_)) {
    if (rd_kafka_error_t* failure = rd_kafka_incremental_unassign(handle_, partitions)) {
      rd_kafka_error_destroy(failure);
    }
    return;
  }
  rd_kafka_assign(handle_, nullptr);
}

}  // namespace clickstream::kafka
