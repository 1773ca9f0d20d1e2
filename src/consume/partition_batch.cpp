#include "consume/partition_batch.h"

#include "event/timestamp.h"

namespace clickstream::consume {

PartitionBatch::PartitionBatch(int32_t partition, DateColumn date_column)
    : partition_(partition), date_column_(date_column) {}

void PartitionBatch::Track(int64_t offset, Clock::time_point now) {
  if (messages_ == 0) {
    first_offset_ = offset;
    started_at_ = now;
  }
  last_offset_ = offset;
  ++messages_;
}

arrow::Status PartitionBatch::Add(const Event& event, const LandingInfo& info, Clock::time_point now) {
  const int32_t day =
      date_column_ == DateColumn::kInPath ? static_cast<int32_t>(FloorDiv(event.timestamp, 86400)) : 0;
  auto& builder = builders_[day];
  if (!builder) builder = std::make_unique<LandedBatchBuilder>(date_column_);
  ARROW_RETURN_NOT_OK(builder->Append(event, info));
  Track(info.kafka_offset, now);
  ++rows_;
  return arrow::Status::OK();
}

void PartitionBatch::AddDeadLetter(int64_t offset, Clock::time_point now) {
  Track(offset, now);
  ++dead_letters_;
}

bool PartitionBatch::IsDue(Clock::time_point now, int64_t max_messages, std::chrono::milliseconds max_wait) const {
  return messages_ > 0 && (messages_ >= max_messages || now - started_at_ >= max_wait);
}

arrow::Result<sink::PartitionBatchData> PartitionBatch::Take() {
  sink::PartitionBatchData data;
  data.partition = partition_;
  data.first_offset = first_offset_;
  data.last_offset = last_offset_;
  for (auto& [day, builder] : builders_) {
    ARROW_ASSIGN_OR_RAISE(auto rows, builder->Finish());
    if (rows->num_rows() > 0) data.rows_by_day.emplace_back(day, std::move(rows));
  }
  // Dropping the builders keeps memory flat when the dates move on.
  builders_.clear();
  first_offset_ = last_offset_ = -1;
  messages_ = rows_ = dead_letters_ = 0;
  return data;
}

}  // namespace clickstream::consume
