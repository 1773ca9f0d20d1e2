// End-to-end latency: from an event's Kafka timestamp (when it was produced) to the moment the
// destination made it durable. The consumer notes each event's timestamp as it reads it and, when
// a batch becomes durable, turns what it noted below the batch's end into histogram counts.
//
// Timestamps are kept as runs of events with the same 10 ms tick, so a replay at a million events
// a second keeps a run or two per batch; memory is bounded by what is buffered, as the batches are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <vector>

namespace clickstream::consume {

class IngestLatency {
 public:
  // Histogram bucket upper bounds, in seconds, increasing.
  explicit IngestLatency(std::vector<double> bounds);

  // An event of the partition at `offset`, produced at `timestamp_ms` (ignored when negative).
  // Offsets come in increasing order per partition; an offset at or below one already noted means
  // the partition was rewound, and what was noted from there on is dropped.
  void Read(int32_t partition, int64_t offset, int64_t timestamp_ms);

  // The partition's events below `next_offset` became durable at `now_ms`: adds their latencies
  // to `bucket_counts` (one count per bound, then +Inf; not cumulative) and `sum` (seconds).
  void Durable(int32_t partition, int64_t next_offset, int64_t now_ms, std::vector<double>* bucket_counts, double* sum);

  // The partition was revoked or lost.
  void Forget(int32_t partition);

  const std::vector<double>& bounds() const { return bounds_; }
  size_t runs() const;

 private:
  struct Run {
    int64_t last_offset;
    int64_t tick;  // timestamp_ms / kTickMs
    int64_t count;
  };
  static constexpr int64_t kTickMs = 10;

  std::vector<double> bounds_;
  std::map<int32_t, std::deque<Run>> runs_;
  // Read() is called for every message, mostly for the partition of the one before: its runs are
  // kept at hand rather than looked up each time (a map's elements stay put until erased).
  int32_t last_partition_ = -1;
  std::deque<Run>* last_runs_ = nullptr;
};

}  // namespace clickstream::consume
