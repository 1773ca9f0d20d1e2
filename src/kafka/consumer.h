// An owned librdkafka consumer in a group. The caller decides where each assigned partition starts
// (the landed files know it better than the group's committed offsets), so assignment goes through
// a listener that fills in the start offsets before the consumer is assigned them.
// Rebalance callbacks run on the thread that calls Poll() or Close(). Not thread-safe.
#pragma once

#include <memory>
#include <string>

#include <arrow/result.h>
#include <arrow/status.h>
#include <librdkafka/rdkafka.h>

#include "kafka/config.h"

namespace clickstream::kafka {

struct MessageDeleter {
  void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const { rd_kafka_topic_partition_list_destroy(list); }
};
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // Set each element's offset to where consumption starts (RD_KAFKA_OFFSET_STORED: the group's
  // committed offset, else auto.offset.reset). Return an error to take none of them.
  virtual arrow::Status OnAssign(rd_kafka_topic_partition_list_t* partitions) = 0;
  // The partitions are about to go to another member: finish their work now.
  virtual void OnRevoke(const rd_kafka_topic_partition_list_t* partitions) = 0;
};

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
  // A message, an error carried as a message (check ->err), or null after the timeout.
  MessagePtr Poll(int timeout_ms);
  // Commits the given offsets (the next offset to read, per partition).
  arrow::Status Commit(const rd_kafka_topic_partition_list_t* offsets, bool async);
  // Revokes the assignment through the listener and leaves the group at once, so the partitions
  // move to the other members without waiting for the session timeout.
  arrow::Status Close();
  // The last assignment failure reported by the listener, if any.
  const arrow::Status& assign_error() const { return assign_error_; }

  rd_kafka_t* handle() { return handle_; }

 private:
  explicit Consumer(RebalanceListener* listener) : listener_(listener) {}
  static void OnRebalance(rd_kafka_t* handle, rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* partitions,
                          void* opaque);
  void Assign(rd_kafka_topic_partition_list_t* partitions);
  void Revoke(rd_kafka_topic_partition_list_t* partitions);

  RebalanceListener* listener_;
  arrow::Status assign_error_;
  bool closed_ = false;
  rd_kafka_t* handle_ = nullptr;
};

}  // namespace clickstream::kafka
