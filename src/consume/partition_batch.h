// The in-memory batch of one Kafka partition: the rows consumed since its last landed batch,
// grouped by event date, and the offset range they (and any dead letters among them) cover.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>

#include <arrow/result.h>

#include "event/event.h"
#include "event/landed_schema.h"
#include "sink/sink.h"

namespace clickstream::consume {

class PartitionBatch {
 public:
  using Clock = std::chrono::steady_clock;

  PartitionBatch(int32_t partition, DateColumn date_column);

  arrow::Status Add(const Event& event, const LandingInfo& info, Clock::time_point now);
  // A message that went to the dead-letter topic still belongs to the batch's offset range.
  void AddDeadLetter(int64_t offset, Clock::time_point now);

  bool empty() const { return messages_ == 0; }
  int64_t messages() const { return messages_; }
  int64_t rows() const { return rows_; }
  int64_t dead_letters() const { return dead_letters_; }
  // Full, or its first message has waited long enough.
  bool IsDue(Clock::time_point now, int64_t max_messages, std::chrono::milliseconds max_wait) const;

  // Hands out the batch, one record batch per event date, and starts an empty one.
  arrow::Result<sink::PartitionBatchData> Take();

 private:
  void Track(int64_t offset, Clock::time_point now);

  int32_t partition_;
  DateColumn date_column_;
  // One builder per event date; with the date in the file, everything goes under day 0.
  std::map<int32_t, std::unique_ptr<LandedBatchBuilder>> builders_;
  int64_t first_offset_ = -1;
  int64_t last_offset_ = -1;
  int64_t messages_ = 0;
  int64_t rows_ = 0;
  int64_t dead_letters_ = 0;
  Clock::time_point started_at_;
};

}  // namespace clickstream::consume
