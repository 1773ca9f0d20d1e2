#include "consume/landing_consumer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "consume/consume_stats.h"
#include "consume/dead_letters.h"
#include "consume/partition_batch.h"
#include "event/json_codec.h"
#include "kafka/consumer.h"
#include "sink/durable_file.h"
#include "sink/landed_files.h"
#include "sink/parquet_dataset.h"

namespace clickstream::consume {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kPollTimeout{100};
constexpr milliseconds kDueCheckInterval{50};
constexpr milliseconds kDeadLetterFlushTimeout{60'000};
constexpr milliseconds kFirstRetryDelay{200};
constexpr milliseconds kMaxRetryDelay{5'000};
// Full batches waiting for the landing round in flight; past this the consumer stops reading
// until the round is durable, which bounds memory to about this many batches.
constexpr size_t kMaxSealedBatches = 64;

template <typename... Args>
void Log(fmt::format_string<Args...> format, Args&&... args) {
  fmt::print(stderr, "consume: {}\n", fmt::format(format, std::forward<Args>(args)...));
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct PartitionState {
  PartitionState(int32_t partition, DateColumn date_column) : batch(partition, date_column) {}
  PartitionBatch batch;
  // The next offset expected; -1 until the first message when starting from the group's offset.
  // Anything below it is a stale fetch from before a rebalance and is dropped.
  int64_t next_offset = -1;
  // The newest marker file of this partition: obsolete once a later batch is durable.
  std::string marker_path;
};

// Batches landed together as one group commit, in the order they were sealed.
struct LandingRound {
  std::vector<sink::PartitionBatchData> batches;
  std::vector<int64_t> rows;
  std::string write_time;
};

struct LandedRound {
  LandingRound round;
  std::vector<sink::WrittenFiles> written;
};

class LandingConsumer final : public kafka::RebalanceListener {
 public:
  LandingConsumer(const ConsumeOptions& options, const std::atomic<bool>& stop)
      : options_(options),
        stop_(stop),
        writer_(sink::DatasetOptions{options.output_dir, options.date_column, options.kafka.topic}),
        dlq_topic_(options.dlq_topic.empty() ? options.kafka.topic + ".dlq" : options.dlq_topic) {}

  arrow::Status Open();
  arrow::Status Run();
  arrow::Status Shutdown();
  // Leaves the group without landing anything more: what is buffered is re-read by whoever gets
  // the partitions next, since neither a file nor a commit claims it.
  void Abandon(const arrow::Status& cause);
  ConsumeSummary Summary() const;
  void PrintSummary();

  arrow::Status OnAssign(rd_kafka_topic_partition_list_t* partitions) override;
  void OnRevoke(const rd_kafka_topic_partition_list_t* partitions) override;

 private:
  arrow::Status Handle(const rd_kafka_message_t& message);
  arrow::Status SendDeadLetter(const rd_kafka_message_t& message, PartitionState* state, std::string_view reason);
  arrow::Status FlushDue(Clock::time_point now);
  arrow::Status FlushAll();
  arrow::Status Seal(PartitionState* state);
  arrow::Status Advance(bool block);
  arrow::Status StartRound();
  arrow::Status FinishRound();
  arrow::Result<std::vector<sink::WrittenFiles>> LandWithRetries(const LandingRound& round) const;
  arrow::Status WithRetries(const std::string& what, const std::function<arrow::Status()>& attempt) const;
  void Commit(const std::map<int32_t, int64_t>& next_offsets, bool async);
  bool IsIdle(Clock::time_point now) const;
  void MaybePrintStats(Clock::time_point now, bool force);
  int64_t Lag();

  const ConsumeOptions& options_;
  const std::atomic<bool>& stop_;
  sink::ParquetDatasetWriter writer_;
  const std::string dlq_topic_;
  EventJsonDecoder decoder_;
  Event event_;
  std::map<int32_t, PartitionState> partitions_;
  // Per partition: the offset after the last durable batch, i.e. what may be committed.
  std::map<int32_t, int64_t> durable_next_;
  // Once a write failed for good nothing may become durable after it.
  arrow::Status failure_;
  ConsumeStats stats_;
  Clock::time_point started_at_ = Clock::now();
  Clock::time_point last_activity_ = started_at_;
  // Idleness only counts while the group has given this member an assignment (possibly empty):
  // waiting to join, or for a rebalance that waits out a dead member, is not being idle.
  bool assigned_ = false;
  Clock::time_point last_due_check_ = started_at_;
  Clock::time_point last_stats_at_ = started_at_;
  int64_t events_at_last_stats_ = 0;
  std::unique_ptr<DeadLetterQueue> dlq_;  // made on the first dead letter
  // Landing is pipelined: one round is written and synced on a background thread while the
  // consumer goes on reading, and the batches that fill up meanwhile form the next round. So
  // the slower the disk, the larger the group commit. Its offsets are committed by this thread,
  // once the round is durable.
  std::vector<sink::PartitionBatchData> sealed_;
  std::vector<int64_t> sealed_rows_;
  std::future<arrow::Result<LandedRound>> in_flight_;
  // Declared last so it is destroyed first: closing it calls OnRevoke, which needs the rest.
  std::unique_ptr<kafka::Consumer> consumer_;
};

arrow::Status LandingConsumer::Open() {
  ARROW_RETURN_NOT_OK(sink::EnsureDirectory(options_.output_dir));
  const std::string session_timeout = "10000";
  ARROW_ASSIGN_OR_RAISE(
      auto conf,
      kafka::MakeConf(options_.kafka, {
                                          {"group.id", options_.group},
                                          {"client.id", "clickstream-consume"},
                                          // Offsets are committed by hand, after the files are durable.
                                          {"enable.auto.commit", "false"},
                                          {"enable.auto.offset.store", "false"},
                                          {"auto.offset.reset", options_.offset_reset},
                                          // librdkafka's 45 s default keeps a killed member's
                                          // partitions idle that long; the broker's minimum is 6 s.
                                          {"session.timeout.ms", session_timeout},
                                          {"heartbeat.interval.ms", "3000"},
                                          {"enable.partition.eof", "false"},
                                          // Bounds the prefetch queue (default 64 MiB per client).
                                          {"queued.max.messages.kbytes", "16384"},
                                      }));
  ARROW_ASSIGN_OR_RAISE(consumer_, kafka::Consumer::Make(std::move(conf), this));
  return consumer_->Subscribe(options_.kafka.topic);
}

arrow::Status LandingConsumer::OnAssign(rd_kafka_topic_partition_list_t* partitions) {
  last_activity_ = Clock::now();
  assigned_ = true;
  // The recovery scan must not race a round still writing (temp files would look abandoned).
  if (in_flight_.valid()) ARROW_RETURN_NOT_OK(FinishRound());
  std::set<int32_t> ids;
  for (int i = 0; i < partitions->cnt; ++i) ids.insert(partitions->elems[i].partition);
  ARROW_ASSIGN_OR_RAISE(auto recoveries, sink::RecoverPartitions(options_.output_dir, ids));
  std::string from_files;
  std::string from_group;
  for (int i = 0; i < partitions->cnt; ++i) {
    rd_kafka_topic_partition_t& element = partitions->elems[i];
    const sink::PartitionRecovery& recovery = recoveries[element.partition];
    auto [it, inserted] = partitions_.try_emplace(element.partition, element.partition, options_.date_column);
    PartitionState& state = it->second;
    if (recovery.resume_offset) {
      element.offset = *recovery.resume_offset;
      state.next_offset = *recovery.resume_offset;
      durable_next_[element.partition] = *recovery.resume_offset;
      state.marker_path = recovery.newest_marker;
      from_files += fmt::format(" p{}@{}", element.partition, element.offset);
    } else {
      element.offset = RD_KAFKA_OFFSET_STORED;
      state.next_offset = -1;
      from_group += fmt::format(" p{}", element.partition);
    }
    if (recovery.removed_files > 0) {
      Log("partition {}: removed {} file(s) left by an interrupted run", element.partition, recovery.removed_files);
    }
  }
  Log("assigned {} partition(s); resuming from landed files:{}{}", partitions->cnt,
      from_files.empty() ? " none" : from_files,
      from_group.empty() ? "" : "; from the group's offset (else " + options_.offset_reset + "):" + from_group);
  stats_.partitions = static_cast<int>(partitions_.size());
  return arrow::Status::OK();
}

void LandingConsumer::OnRevoke(const rd_kafka_topic_partition_list_t* partitions) {
  last_activity_ = Clock::now();
  assigned_ = false;
  // The next owner resumes from the files, so whatever is buffered must land now (the round in
  // flight included), or be left for it to re-read when landing fails. Landing everything
  // rather than only the revoked partitions keeps the batches of a partition in order.
  if (failure_.ok()) {
    const arrow::Status status = FlushAll();
    if (!status.ok()) failure_ = status;
  } else if (in_flight_.valid()) {
    in_flight_.wait();  // its files may land, but nothing more is committed
  }
  std::map<int32_t, int64_t> to_commit;
  for (int i = 0; i < partitions->cnt; ++i) {
    const int32_t partition = partitions->elems[i].partition;
    auto it = partitions_.find(partition);
    if (it == partitions_.end()) continue;
    if (failure_.ok() && durable_next_.count(partition)) to_commit[partition] = durable_next_[partition];
    partitions_.erase(it);
    durable_next_.erase(partition);
  }
  Commit(to_commit, /*async=*/false);
  stats_.partitions = static_cast<int>(partitions_.size());
  Log("revoked {} partition(s)", partitions->cnt);
}

arrow::Status LandingConsumer::SendDeadLetter(const rd_kafka_message_t& message, PartitionState* state,
                                              std::string_view reason) {
  if (!dlq_) {
    // The dead-letter topic gets the source topic's partition count when it must be created.
    int partitions = 1;
    const rd_kafka_metadata_t* metadata = nullptr;
    if (rd_kafka_metadata(consumer_->handle(), 0, message.rkt, &metadata, 10'000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (metadata->topic_cnt == 1 && metadata->topics[0].partition_cnt > 0) {
        partitions = metadata->topics[0].partition_cnt;
      }
      rd_kafka_metadata_destroy(metadata);
    }
    ARROW_ASSIGN_OR_RAISE(dlq_, DeadLetterQueue::Make(options_.kafka, dlq_topic_, partitions));
  }
  ARROW_RETURN_NOT_OK(dlq_->Send(message, options_.kafka.topic, reason));
  state->batch.AddDeadLetter(message.offset, Clock::now());
  ++stats_.dead_letters;
  return arrow::Status::OK();
}

arrow::Status LandingConsumer::Handle(const rd_kafka_message_t& message) {
  if (message.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (message.err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return arrow::Status::OK();
    const std::string reason = rd_kafka_message_errstr(&message);
    if (message.err == RD_KAFKA_RESP_ERR__FATAL) return arrow::Status::IOError("fatal Kafka error: ", reason);
    Log("Kafka: {} ({})", reason, rd_kafka_err2name(message.err));
    return arrow::Status::OK();
  }
  auto it = partitions_.find(message.partition);
  if (it == partitions_.end()) return arrow::Status::OK();  // fetched before a revoke
  PartitionState& state = it->second;
  if (state.next_offset >= 0 && message.offset < state.next_offset) return arrow::Status::OK();
  state.next_offset = message.offset + 1;
  last_activity_ = Clock::now();
  ++stats_.messages;

  const std::string_view payload(static_cast<const char*>(message.payload), message.len);
  if (static_cast<int64_t>(message.len) > options_.max_message_bytes) {
    ARROW_RETURN_NOT_OK(SendDeadLetter(
        message, &state, fmt::format("oversized: {} bytes, limit {}", message.len, options_.max_message_bytes)));
  } else if (message.payload == nullptr) {
    ARROW_RETURN_NOT_OK(SendDeadLetter(message, &state, "null value"));
  } else if (const arrow::Status decoded = decoder_.Decode(payload, &event_); !decoded.ok()) {
    ARROW_RETURN_NOT_OK(SendDeadLetter(message, &state, decoded.message()));
  } else {
    if (event_.source_id.empty()) {
      // A message from another tool: its Kafka coordinates are unique and stable across re-reads,
      // so a re-landed event keeps its identity (one source_id per partition, the offset as line).
      event_.source_id = fmt::format("kafka:{}:{}", options_.kafka.topic, message.partition);
      event_.source_line = message.offset;
    }
    const LandingInfo info{message.partition, message.offset, NowMicros()};
    ARROW_RETURN_NOT_OK(state.batch.Add(event_, info, last_activity_));
  }
  if (state.batch.messages() >= options_.batch_size) {
    ARROW_RETURN_NOT_OK(Seal(&state));
    return Advance(/*block=*/false);
  }
  return arrow::Status::OK();
}

arrow::Status LandingConsumer::FlushDue(Clock::time_point now) {
  if (now - last_due_check_ < kDueCheckInterval) return Advance(/*block=*/false);
  last_due_check_ = now;
  for (auto& [partition, state] : partitions_) {
    if (state.batch.IsDue(now, options_.batch_size, milliseconds(options_.flush_interval_ms))) {
      ARROW_RETURN_NOT_OK(Seal(&state));
    }
  }
  return Advance(/*block=*/false);
}

// Lands everything buffered and waits until it is durable and committed.
arrow::Status LandingConsumer::FlushAll() {
  for (auto& [partition, state] : partitions_) ARROW_RETURN_NOT_OK(Seal(&state));
  return Advance(/*block=*/true);
}

arrow::Status LandingConsumer::Seal(PartitionState* state) {
  if (state->batch.empty()) return arrow::Status::OK();
  sealed_rows_.push_back(state->batch.rows());
  ARROW_ASSIGN_OR_RAISE(sink::PartitionBatchData data, state->batch.Take());
  sealed_.push_back(std::move(data));
  return arrow::Status::OK();
}

// Collects the round in flight once it is done (or waits for it when `block`, or when too many
// batches are waiting), then starts the next one with every sealed batch.
arrow::Status LandingConsumer::Advance(bool block) {
  if (in_flight_.valid()) {
    const bool must_wait = block || sealed_.size() >= kMaxSealedBatches;
    if (!must_wait && in_flight_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      return arrow::Status::OK();
    }
    ARROW_RETURN_NOT_OK(FinishRound());
  }
  if (sealed_.empty()) return arrow::Status::OK();
  ARROW_RETURN_NOT_OK(StartRound());
  if (block) return FinishRound();
  return arrow::Status::OK();
}

arrow::Status LandingConsumer::StartRound() {
  if (!failure_.ok()) return failure_;
  // A dead letter must be in its topic before any file claims the offsets past it.
  if (dlq_ && dlq_->HasUnflushed()) {
    ARROW_RETURN_NOT_OK(WithRetries("dead letters", [this] { return dlq_->Flush(kDeadLetterFlushTimeout); }));
  }
  LandingRound round;
  round.batches = std::move(sealed_);
  round.rows = std::move(sealed_rows_);
  sealed_.clear();
  sealed_rows_.clear();
  // The same write time on every attempt gives the same names, so a retry replaces the parts an
  // earlier attempt renamed instead of duplicating them.
  round.write_time = sink::FormatWriteTime(std::chrono::system_clock::now());
  in_flight_ = std::async(std::launch::async, [this, round = std::move(round)]() mutable -> arrow::Result<LandedRound> {
    ARROW_ASSIGN_OR_RAISE(auto written, LandWithRetries(round));
    return LandedRound{std::move(round), std::move(written)};
  });
  return arrow::Status::OK();
}

arrow::Status LandingConsumer::FinishRound() {
  arrow::Result<LandedRound> result = in_flight_.get();
  if (!result.ok()) {
    failure_ = result.status();
    return failure_;
  }
  const LandedRound& landed = *result;
  // Durable: the offsets after it may be committed, and an older marker is no longer needed.
  std::map<int32_t, int64_t> to_commit;
  for (size_t i = 0; i < landed.round.batches.size(); ++i) {
    const sink::PartitionBatchData& data = landed.round.batches[i];
    const sink::WrittenFiles& written = landed.written[i];
    durable_next_[data.partition] = data.last_offset + 1;
    to_commit[data.partition] = data.last_offset + 1;
    auto it = partitions_.find(data.partition);
    if (it != partitions_.end()) {
      PartitionState& state = it->second;
      if (!state.marker_path.empty()) {
        // Best effort: a marker left behind is removed by the next recovery scan.
        std::remove(state.marker_path.c_str());
        state.marker_path.clear();
      }
      if (data.rows_by_day.empty()) state.marker_path = written.paths.front();
    }
    ++stats_.batches;
    stats_.events += landed.round.rows[i];
    stats_.files += static_cast<int64_t>(data.rows_by_day.size());
    stats_.bytes += written.bytes;
  }
  Commit(to_commit, /*async=*/true);
  return arrow::Status::OK();
}

// Runs on the landing thread: touches only the writer and the stop flag.
arrow::Result<std::vector<sink::WrittenFiles>> LandingConsumer::LandWithRetries(const LandingRound& round) const {
  const sink::PartitionBatchData& first = round.batches.front();
  const sink::PartitionBatchData& last = round.batches.back();
  const std::string what =
      round.batches.size() == 1
          ? fmt::format("partition {} offsets {}-{}", first.partition, first.first_offset, first.last_offset)
          : fmt::format("{} batches (partition {} offsets {}-{} ... partition {} offsets {}-{})", round.batches.size(),
                        first.partition, first.first_offset, first.last_offset, last.partition, last.first_offset,
                        last.last_offset);
  std::vector<sink::WrittenFiles> written;
  ARROW_RETURN_NOT_OK(WithRetries(what, [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(written, writer_.WriteGroup(round.batches, round.write_time));
    return arrow::Status::OK();
  }));
  return written;
}

arrow::Status LandingConsumer::WithRetries(const std::string& what,
                                           const std::function<arrow::Status()>& attempt) const {
  const Clock::time_point deadline = Clock::now() + milliseconds(options_.write_retry_ms);
  milliseconds delay = kFirstRetryDelay;
  while (true) {
    const arrow::Status status = attempt();
    if (status.ok()) return status;
    if (Clock::now() + delay > deadline || stop_.load()) {
      return arrow::Status::IOError("giving up on ", what, " (nothing committed past the last durable file): ",
                                    status.message());
    }
    Log("cannot land {}: {}; retrying in {} ms", what, status.message(), delay.count());
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, kMaxRetryDelay);
  }
}

void LandingConsumer::Commit(const std::map<int32_t, int64_t>& next_offsets, bool async) {
  if (next_offsets.empty() || !consumer_) return;
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size())));
  for (const auto& [partition, offset] : next_offsets) {
    rd_kafka_topic_partition_list_add(list.get(), options_.kafka.topic.c_str(), partition)->offset = offset;
  }
  const arrow::Status status = consumer_->Commit(list.get(), async);
  // The files, not the group, decide where a restart resumes, so a failed commit only makes the
  // reported lag stale.
  if (!status.ok()) Log("{}", status.message());
}

int64_t LandingConsumer::Lag() {
  int64_t lag = 0;
  for (const auto& [partition, state] : partitions_) {
    int64_t low = 0;
    int64_t high = 0;
    if (state.next_offset < 0 ||
        rd_kafka_get_watermark_offsets(consumer_->handle(), options_.kafka.topic.c_str(), partition, &low, &high) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0) {
      continue;
    }
    lag += std::max<int64_t>(0, high - state.next_offset);
  }
  return lag;
}

void LandingConsumer::MaybePrintStats(Clock::time_point now, bool force) {
  const auto elapsed = std::chrono::duration<double>(now - last_stats_at_).count();
  if (!force && elapsed * 1000 < static_cast<double>(options_.stats_interval_ms)) return;
  stats_.lag = Lag();
  const double rate = elapsed > 0 ? static_cast<double>(stats_.events - events_at_last_stats_) / elapsed : 0;
  Log("{}", FormatStatsLine(stats_, rate));
  last_stats_at_ = now;
  events_at_last_stats_ = stats_.events;
}

bool LandingConsumer::IsIdle(Clock::time_point now) const {
  return options_.exit_when_idle_ms > 0 && assigned_ &&
         now - last_activity_ >= milliseconds(options_.exit_when_idle_ms);
}

arrow::Status LandingConsumer::Run() {
  while (!stop_.load()) {
    kafka::MessagePtr message = consumer_->Poll(static_cast<int>(kPollTimeout.count()));
    if (!consumer_->assign_error().ok()) return consumer_->assign_error();
    if (!failure_.ok()) return failure_;
    if (message) ARROW_RETURN_NOT_OK(Handle(*message));
    const Clock::time_point now = Clock::now();
    ARROW_RETURN_NOT_OK(FlushDue(now));
    MaybePrintStats(now, false);
    if (IsIdle(now)) {
      Log("no new message for {} ms: finishing", options_.exit_when_idle_ms);
      break;
    }
  }
  return arrow::Status::OK();
}

arrow::Status LandingConsumer::Shutdown() {
  arrow::Status status = FlushAll();
  stats_.lag = Lag();
  if (status.ok()) {
    Commit(durable_next_, /*async=*/false);
  } else {
    failure_ = status;  // nothing more may land; the revoke in Close() must not write either
  }
  // Leaving the group at once hands the partitions to the other members without a session timeout.
  const arrow::Status closed = consumer_->Close();
  if (!closed.ok()) Log("{}", closed.message());
  if (dlq_ && status.ok()) status = dlq_->Flush(kDeadLetterFlushTimeout);
  return status.ok() ? failure_ : status;
}

void LandingConsumer::Abandon(const arrow::Status& cause) {
  failure_ = cause;
  // Its files may still land (the next run resumes from them), but nothing more is committed.
  if (in_flight_.valid()) in_flight_.wait();
  const arrow::Status closed = consumer_ ? consumer_->Close() : arrow::Status::OK();
  if (!closed.ok()) Log("{}", closed.message());
}

void LandingConsumer::PrintSummary() {
  const double seconds = std::chrono::duration<double>(Clock::now() - started_at_).count();
  Log("{} in {:.1f} s: {}", failure_.ok() ? "finished" : "stopped after an error", seconds,
      FormatStatsLine(stats_, seconds > 0 ? static_cast<double>(stats_.events) / seconds : 0));
}

ConsumeSummary LandingConsumer::Summary() const {
  ConsumeSummary summary;
  summary.events = stats_.events;
  summary.dead_letters = stats_.dead_letters;
  summary.files = stats_.files;
  summary.seconds = std::chrono::duration<double>(Clock::now() - started_at_).count();
  return summary;
}

}  // namespace

arrow::Result<ConsumeSummary> RunConsume(const ConsumeOptions& options, const std::atomic<bool>& stop) {
  LandingConsumer consumer(options, stop);
  arrow::Status status = consumer.Open();
  if (status.ok()) status = consumer.Run();
  if (status.ok()) {
    status = consumer.Shutdown();
  } else {
    consumer.Abandon(status);
  }
  consumer.PrintSummary();
  if (!status.ok()) return status;
  return consumer.Summary();
}

}  // namespace clickstream::consume
