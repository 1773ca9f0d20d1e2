// The partitions this member holds, and what a rebalance does to them. The consume loop feeds the
// batches and the group's rebalance callbacks drive Assign / Revoke / Lose; no Kafka client types
// cross this interface, so every rebalance path runs in a unit test against a fake sink.
//
// The invariant: the sink, not the group, says where an assigned partition resumes; an offset is
// committed only once the sink made it durable, and never for a partition this member lost.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include <arrow/status.h>

#include "consume/consume_stats.h"
#include "consume/landing_pipeline.h"
#include "consume/partition_batch.h"
#include "event/landed_schema.h"
#include "sink/sink.h"

namespace clickstream::consume {

struct PartitionState {
  PartitionState(int32_t partition, DateColumn date_column) : batch(partition, date_column) {}
  PartitionBatch batch;
  // The first offset read since the assignment: with nothing of the partition in the sink, what
  // lies before it is not going to land here, so the destination's progress counts from it.
  int64_t first_read = -1;
  // The next offset expected; -1 until the first message when starting from the group's offset.
  // Anything below it is a stale fetch from before a rebalance or a rewind and is dropped.
  int64_t next_offset = -1;
};

// Where the group keeps this member's positions: the Kafka consumer, or a fake in a test.
class GroupPositions {
 public:
  virtual ~GroupPositions() = default;
  // Commits the next offset to read per partition. The sink, not the group, decides where a
  // restart resumes, so a failed commit only makes the reported lag stale: nothing to return.
  virtual void Commit(const std::map<int32_t, int64_t>& next_offsets, bool async) = 0;
  // Moves the assigned partitions' read positions (after the sink said where they are).
  virtual arrow::Status Rewind(const std::map<int32_t, int64_t>& next_offsets) = 0;
};

class AssignedPartitions {
 public:
  // Everything passed in must outlive this.
  AssignedPartitions(sink::Sink* sink, LandingPipeline* pipeline, GroupPositions* group, DateColumn date_column,
                     ConsumeStats* stats);

  // The partitions were just assigned. Waits for the round in flight (recovery must not race it),
  // then returns where each one starts: the sink's resume point, or nullopt when the sink holds
  // nothing of it (then the group's committed offset, else auto.offset.reset).
  arrow::Result<std::map<int32_t, std::optional<int64_t>>> Assign(const std::set<int32_t>& partitions);
  // An orderly revoke: the next owner resumes from the sink, so everything buffered lands first
  // (unless landing already failed) and what is durable of the revoked partitions is committed.
  void Revoke(const std::set<int32_t>& partitions);
  // The group already gave the partitions to another member: their unlanded batches are dropped
  // and nothing of them is committed here. A round already in flight is not called back: where
  // it can, the sink's fencing refuses it, and nothing it lands of them counts as durable here.
  void Lose(const std::set<int32_t>& partitions);

  // Null for a partition this member does not hold (a fetch from before a revoke).
  PartitionState* Find(int32_t partition);
  const std::map<int32_t, PartitionState>& partitions() const { return partitions_; }

  // Hands the partition's batch to the pipeline, unless it is empty.
  arrow::Status Seal(PartitionState* state);
  // Seals every batch that is full or has waited `max_wait`.
  arrow::Status SealDue(PartitionBatch::Clock::time_point now, int64_t max_messages, std::chrono::milliseconds max_wait);
  // Lands everything buffered and waits until it is durable and committed.
  arrow::Status FlushAll();
  // Moves the landing pipeline on and commits what became durable. A fenced round (another
  // member owns one of its partitions now) rewinds every partition to what the sink says.
  arrow::Status Advance(bool block);

  // Called with each group of batches that became durable (and were counted in the stats).
  void set_on_durable(std::function<void(const std::vector<DurableBatch>&)> on_durable) {
    on_durable_ = std::move(on_durable);
  }

  // Per partition: the offset after the last durable batch, i.e. what may be committed.
  const std::map<int32_t, int64_t>& durable_next() const { return durable_next_; }
  // Once a landing failed for good nothing may become durable after it.
  const arrow::Status& failure() const { return failure_; }
  void Fail(const arrow::Status& cause) { failure_ = cause; }

 private:
  arrow::Status Rewind();
  void Commit(const std::map<int32_t, int64_t>& next_offsets, bool async);
  void Release(const std::set<int32_t>& partitions);

  sink::Sink* sink_;
  LandingPipeline* pipeline_;
  GroupPositions* group_;
  DateColumn date_column_;
  ConsumeStats* stats_;
  std::map<int32_t, PartitionState> partitions_;
  std::map<int32_t, int64_t> durable_next_;
  arrow::Status failure_;
  std::function<void(const std::vector<DurableBatch>&)> on_durable_;
};

}  // namespace clickstream::consume
