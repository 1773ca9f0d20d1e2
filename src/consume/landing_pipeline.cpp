#include "consume/landing_pipeline.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "consume/log.h"

namespace clickstream::consume {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kFirstRetryDelay{200};
constexpr milliseconds kMaxRetryDelay{5'000};
// Full batches waiting for the landing round in flight; past this the consumer stops reading
// until the round is durable, which bounds memory to about this many batches.
constexpr size_t kMaxSealedBatches = 64;

std::string DescribeRound(const std::vector<sink::PartitionBatchData>& batches) {
  const sink::PartitionBatchData& first = batches.front();
  const sink::PartitionBatchData& last = batches.back();
  if (batches.size() == 1) {
    return fmt::format("partition {} offsets {}-{}", first.partition, first.first_offset, first.last_offset);
  }
  return fmt::format("{} batches (partition {} offsets {}-{} ... partition {} offsets {}-{})", batches.size(),
                     first.partition, first.first_offset, first.last_offset, last.partition, last.first_offset,
                     last.last_offset);
}

}  // namespace

arrow::Status RetryFor(std::chrono::milliseconds budget, const std::atomic<bool>& stop, const std::string& what,
                       const std::function<arrow::Status()>& attempt, RetryState* state) {
  const Clock::time_point deadline = Clock::now() + budget;
  milliseconds delay = kFirstRetryDelay;
  while (true) {
    const arrow::Status status = attempt();
    if (state != nullptr) state->failing = !status.ok() && !sink::IsFenced(status);
    if (status.ok() || sink::IsFenced(status)) return status;
    if (Clock::now() + delay > deadline || stop.load()) {
      return arrow::Status::IOError("giving up on ", what, " (nothing committed past the last durable batch): ",
                                    status.message());
    }
    if (state != nullptr) ++state->retries;
    LogWith(LogLevel::kWarning, {{"retry_ms", delay.count()}}, "cannot land {}: {}; retrying in {} ms", what,
            status.message(), delay.count());
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, kMaxRetryDelay);
  }
}

LandingPipeline::LandingPipeline(sink::Sink* sink, std::chrono::milliseconds retry_budget,
                                 const std::atomic<bool>& stop, std::function<arrow::Status()> before_round)
    : sink_(sink), retry_budget_(retry_budget), stop_(stop), before_round_(std::move(before_round)) {}

LandingPipeline::~LandingPipeline() { Discard(); }

arrow::Result<std::vector<DurableBatch>> LandingPipeline::Advance(bool block) {
  std::vector<DurableBatch> durable;
  if (in_flight_.valid()) {
    const bool must_wait = block || sealed_.size() >= kMaxSealedBatches;
    if (!must_wait && in_flight_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return durable;
    ARROW_ASSIGN_OR_RAISE(durable, FinishRound());
  }
  if (sealed_.empty()) return durable;
  ARROW_RETURN_NOT_OK(StartRound());
  if (!block) return durable;
  ARROW_ASSIGN_OR_RAISE(auto more, FinishRound());
  durable.insert(durable.end(), more.begin(), more.end());
  return durable;
}

arrow::Status LandingPipeline::StartRound() {
  if (before_round_) ARROW_RETURN_NOT_OK(before_round_());
  landing_ = std::move(sealed_);
  sealed_.clear();
  // The same write time on every attempt gives the same names, so a retry replaces what an
  // earlier attempt published instead of duplicating it.
  const std::string write_time = sink::FormatWriteTime(std::chrono::system_clock::now());
  in_flight_ = std::async(std::launch::async, [this, write_time]() -> arrow::Result<std::vector<sink::LandedBatch>> {
    std::vector<sink::LandedBatch> landed;
    const Clock::time_point started = Clock::now();
    ARROW_RETURN_NOT_OK(RetryFor(
        retry_budget_, stop_, DescribeRound(landing_),
        [&]() -> arrow::Status {
          ARROW_ASSIGN_OR_RAISE(landed, sink_->Land(landing_, write_time));
          return arrow::Status::OK();
        },
        &retry_state_));
    in_flight_seconds_ = std::chrono::duration<double>(Clock::now() - started).count();
    return landed;
  });
  return arrow::Status::OK();
}

arrow::Result<std::vector<DurableBatch>> LandingPipeline::FinishRound() {
  arrow::Result<std::vector<sink::LandedBatch>> result = in_flight_.get();
  std::vector<sink::PartitionBatchData> round = std::move(landing_);
  landing_.clear();
  ARROW_RETURN_NOT_OK(result.status());
  ++rounds_landed_;
  round_seconds_.push_back(in_flight_seconds_);
  std::vector<DurableBatch> durable;
  durable.reserve(round.size());
  for (size_t i = 0; i < round.size(); ++i) {
    durable.push_back(DurableBatch{round[i].partition, round[i].last_offset + 1, round[i].num_rows(), (*result)[i]});
  }
  return durable;
}

void LandingPipeline::Discard() {
  if (in_flight_.valid()) in_flight_.wait();
  in_flight_ = {};
  landing_.clear();
}

void LandingPipeline::DropSealed(const std::set<int32_t>& partitions) {
  std::erase_if(sealed_, [&](const sink::PartitionBatchData& batch) { return partitions.count(batch.partition) > 0; });
}

}  // namespace clickstream::consume
