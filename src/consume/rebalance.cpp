#include "consume/rebalance.h"

#include <string>

#include "consume/log.h"

namespace clickstream::consume {

AssignedPartitions::AssignedPartitions(sink::Sink* sink, LandingPipeline* pipeline, GroupPositions* group,
                                       DateColumn date_column, ConsumeStats* stats)
    : sink_(sink), pipeline_(pipeline), group_(group), date_column_(date_column), stats_(stats) {}

arrow::Result<std::map<int32_t, std::optional<int64_t>>> AssignedPartitions::Assign(
    const std::set<int32_t>& partitions) {
  // Recovery must not race a round still landing (its temp files would look abandoned).
  ARROW_RETURN_NOT_OK(Advance(/*block=*/true));
  ARROW_ASSIGN_OR_RAISE(auto resumes, sink_->Recover(partitions));
  std::map<int32_t, std::optional<int64_t>> starts;
  for (int32_t partition : partitions) {
    const sink::PartitionResume& resume = resumes[partition];
    auto [it, inserted] = partitions_.try_emplace(partition, partition, date_column_);
    PartitionState& state = it->second;
    if (resume.next_offset) {
      state.next_offset = *resume.next_offset;
      durable_next_[partition] = *resume.next_offset;
    } else {
      state.next_offset = -1;
    }
    starts[partition] = resume.next_offset;
    if (resume.removed_leftovers > 0) {
      LogWith(LogLevel::kInfo, {{"partition", partition}, {"files", resume.removed_leftovers}},
              "partition {}: removed {} file(s) left by an interrupted run", partition, resume.removed_leftovers);
    }
  }
  stats_->partitions = static_cast<int>(partitions_.size());
  return starts;
}

void AssignedPartitions::Revoke(const std::set<int32_t>& partitions) {
  if (failure_.ok()) {
    // Whatever is buffered must land now (the round in flight included), or be left for the next
    // owner to re-read when landing fails. Landing everything rather than only the revoked
    // partitions keeps the batches of a partition in order.
    const arrow::Status status = FlushAll();
    if (!status.ok()) failure_ = status;
  } else {
    pipeline_->Discard();  // its files may land, but nothing more is committed
  }
  std::map<int32_t, int64_t> to_commit;
  for (int32_t partition : partitions) {
    const auto durable = durable_next_.find(partition);
    if (failure_.ok() && durable != durable_next_.end()) to_commit[partition] = durable->second;
  }
  Commit(to_commit, /*async=*/false);
  Release(partitions);
}

void AssignedPartitions::Lose(const std::set<int32_t>& partitions) {
  // The other member resumes from the sink: landing their buffered batches now could only
  // duplicate what it lands. A round already in flight is left to the sink's fencing, and what it
  // makes durable of these partitions is not committed (Advance skips them once released).
  pipeline_->DropSealed(partitions);
  LogWith(LogLevel::kWarning, {{"partitions", partitions.size()}},
          "lost {} partition(s) to another member: dropped their unlanded batches", partitions.size());
  Release(partitions);
}

void AssignedPartitions::Release(const std::set<int32_t>& partitions) {
  for (int32_t partition : partitions) {
    partitions_.erase(partition);  // with its open batch
    durable_next_.erase(partition);
  }
  if (pipeline_->idle()) sink_->Forget(partitions);
  stats_->partitions = static_cast<int>(partitions_.size());
  LogWith(LogLevel::kInfo, {{"partitions", partitions.size()}}, "revoked {} partition(s)", partitions.size());
}

PartitionState* AssignedPartitions::Find(int32_t partition) {
  auto it = partitions_.find(partition);
  return it == partitions_.end() ? nullptr : &it->second;
}

arrow::Status AssignedPartitions::Seal(PartitionState* state) {
  if (state->batch.empty()) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(sink::PartitionBatchData data, state->batch.Take());
  pipeline_->Add(std::move(data));
  return arrow::Status::OK();
}

arrow::Status AssignedPartitions::SealDue(PartitionBatch::Clock::time_point now, int64_t max_messages,
                                          std::chrono::milliseconds max_wait) {
  for (auto& [partition, state] : partitions_) {
    if (state.batch.IsDue(now, max_messages, max_wait)) ARROW_RETURN_NOT_OK(Seal(&state));
  }
  return arrow::Status::OK();
}

arrow::Status AssignedPartitions::FlushAll() {
  for (auto& [partition, state] : partitions_) ARROW_RETURN_NOT_OK(Seal(&state));
  return Advance(/*block=*/true);
}

arrow::Status AssignedPartitions::Advance(bool block) {
  if (!failure_.ok()) return failure_;
  arrow::Result<std::vector<DurableBatch>> result = pipeline_->Advance(block);
  if (!result.ok()) {
    if (sink::IsFenced(result.status())) {
      ++stats_->fenced_rounds;
      return Rewind();
    }
    failure_ = result.status();
    return failure_;
  }
  if (result->empty()) return arrow::Status::OK();
  std::map<int32_t, int64_t> to_commit;
  for (const DurableBatch& batch : *result) {
    // A partition lost while its round was landing belongs to another member now.
    if (partitions_.count(batch.partition)) {
      durable_next_[batch.partition] = batch.next_offset;
      to_commit[batch.partition] = batch.next_offset;
    }
    ++stats_->batches;
    stats_->events += batch.rows;
    stats_->files += batch.landed.files;
    stats_->bytes += batch.landed.bytes;
  }
  Commit(to_commit, /*async=*/true);
  if (on_durable_) on_durable_(*result);
  return arrow::Status::OK();
}

arrow::Status AssignedPartitions::Rewind() {
  pipeline_->Discard();
  std::set<int32_t> owned;
  for (auto& [partition, state] : partitions_) {
    owned.insert(partition);
    (void)state.batch.Take();  // superseded by what the sink holds
  }
  pipeline_->DropSealed(owned);
  ARROW_ASSIGN_OR_RAISE(auto resumes, sink_->Recover(owned));
  std::map<int32_t, int64_t> rewind;
  for (auto& [partition, state] : partitions_) {
    const sink::PartitionResume& resume = resumes[partition];
    if (!resume.next_offset) {
      return arrow::Status::IOError("partition ", partition, " was fenced but ", sink_->Describe(),
                                    " holds no progress for it: restart to rejoin the group");
    }
    rewind[partition] = *resume.next_offset;
    state.next_offset = *resume.next_offset;
    durable_next_[partition] = *resume.next_offset;
  }
  LogWith(LogLevel::kWarning, {{"destination", sink_->Describe()}},
          "another member landed for one of these partitions: rewinding to {}", sink_->Describe());
  return group_->Rewind(rewind);
}

void AssignedPartitions::Commit(const std::map<int32_t, int64_t>& next_offsets, bool async) {
  if (!next_offsets.empty()) group_->Commit(next_offsets, async);
}

}  // namespace clickstream::consume
