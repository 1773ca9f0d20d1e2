#include "consume/ingest_latency.h"

#include <algorithm>
#include <utility>

namespace clickstream::consume {

IngestLatency::IngestLatency(std::vector<double> bounds) : bounds_(std::move(bounds)) {}

void IngestLatency::Read(int32_t partition, int64_t offset, int64_t timestamp_ms) {
  if (timestamp_ms < 0) return;
  if (last_runs_ == nullptr || last_partition_ != partition) {
    last_runs_ = &runs_[partition];
    last_partition_ = partition;
  }
  std::deque<Run>& runs = *last_runs_;
  while (!runs.empty() && runs.back().last_offset >= offset) runs.pop_back();
  const int64_t tick = timestamp_ms / kTickMs;
  if (!runs.empty() && runs.back().tick == tick) {
    runs.back().last_offset = offset;
    ++runs.back().count;
  } else {
    runs.push_back(Run{offset, tick, 1});
  }
}

void IngestLatency::Durable(int32_t partition, int64_t next_offset, int64_t now_ms, std::vector<double>* bucket_counts,
                            double* sum) {
  const auto found = runs_.find(partition);
  if (found == runs_.end()) return;
  bucket_counts->resize(bounds_.size() + 1, 0);
  std::deque<Run>& runs = found->second;
  // A run that straddles the end of the batch waits for the next batch, and is counted whole then:
  // its events share a tick, and the ones already durable are counted a round late at most.
  while (!runs.empty() && runs.front().last_offset < next_offset) {
    const Run& run = runs.front();
    // A producer's clock ahead of ours is not a negative latency.
    const double seconds = std::max<double>(0, static_cast<double>(now_ms - run.tick * kTickMs) / 1000.0);
    const size_t bucket = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), seconds) - bounds_.begin());
    (*bucket_counts)[bucket] += static_cast<double>(run.count);
    *sum += seconds * static_cast<double>(run.count);
    runs.pop_front();
  }
}

void IngestLatency::Forget(int32_t partition) {
  if (partition == last_partition_) last_runs_ = nullptr;
  runs_.erase(partition);
}

size_t IngestLatency::runs() const {
  size_t total = 0;
  for (const auto& [partition, runs] : runs_) total += runs.size();
  return total;
}

}  // namespace clickstream::consume
