// The pipelined landing round: one round of sealed batches is made durable by the sink on a
// background thread while the consumer goes on reading, and the batches sealed meanwhile form the
// next round. So the slower the destination, the larger the group commit. Offsets are committed
// by the consumer's thread once a round is durable.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <arrow/result.h>

#include "sink/sink.h"

namespace clickstream::consume {

// What the retries of a landing look like from outside (the consumer's metrics and readiness,
// read on another thread than the one retrying).
struct RetryState {
  std::atomic<int64_t> retries{0};
  std::atomic<bool> failing{false};  // the last attempt failed and is being retried
};

// Retries `attempt` with back-off until it succeeds, `budget` runs out or `stop` is set. Fenced
// errors (another member owns the partition now) are returned at once: retrying cannot help.
arrow::Status RetryFor(std::chrono::milliseconds budget, const std::atomic<bool>& stop, const std::string& what,
                       const std::function<arrow::Status()>& attempt, RetryState* state = nullptr);

// A batch the sink made durable.
struct DurableBatch {
  int32_t partition = 0;
  int64_t next_offset = 0;  // the offset after the batch: what may be committed
  int64_t rows = 0;
  sink::LandedBatch landed;
};

class LandingPipeline {
 public:
  // `before_round` runs on the caller's thread before each round starts (e.g. to flush dead
  // letters that must be durable before any later offset is).
  LandingPipeline(sink::Sink* sink, std::chrono::milliseconds retry_budget, const std::atomic<bool>& stop,
                  std::function<arrow::Status()> before_round);
  ~LandingPipeline();

  void Add(sink::PartitionBatchData batch) { sealed_.push_back(std::move(batch)); }

  // Collects the round in flight once it is done (or waits for it when `block`, or when too many
  // batches are waiting), then starts the next one with every sealed batch; with `block` it also
  // waits for that one. Returns the batches that became durable, in landing order.
  arrow::Result<std::vector<DurableBatch>> Advance(bool block);

  // Waits for the round in flight and forgets what it did: its files may land, but nothing is
  // reported durable (the caller is abandoning or rewinding).
  void Discard();
  // Drops the sealed (not yet landing) batches of these partitions.
  void DropSealed(const std::set<int32_t>& partitions);
  bool idle() const { return !in_flight_.valid() && sealed_.empty(); }

  // Rounds made durable so far, and the durations (seconds) of those finished since the last call.
  int64_t rounds_landed() const { return rounds_landed_; }
  std::vector<double> TakeRoundSeconds() { return std::exchange(round_seconds_, {}); }
  RetryState& retry_state() { return retry_state_; }

 private:
  arrow::Status StartRound();
  arrow::Result<std::vector<DurableBatch>> FinishRound();

  sink::Sink* sink_;
  std::chrono::milliseconds retry_budget_;
  const std::atomic<bool>& stop_;
  std::function<arrow::Status()> before_round_;
  std::vector<sink::PartitionBatchData> sealed_;
  std::vector<sink::PartitionBatchData> landing_;  // the round in flight
  std::future<arrow::Result<std::vector<sink::LandedBatch>>> in_flight_;
  double in_flight_seconds_ = 0;  // written by the round's thread before its future is ready
  int64_t rounds_landed_ = 0;
  std::vector<double> round_seconds_;
  RetryState retry_state_;
};

}  // namespace clickstream::consume
