#include "consume/landing_consumer.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "common/crash_point.h"
#include "consume/consume_stats.h"
#include "consume/dead_letters.h"
#include "consume/landing_pipeline.h"
#include "consume/partition_batch.h"
#include "event/json_codec.h"
#include "kafka/connection_check.h"
#include "kafka/consumer.h"
#include "sink/open_sink.h"

namespace clickstream::consume {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kPollTimeout{100};
constexpr milliseconds kDueCheckInterval{50};
constexpr int kMessagesPerClockRead = 64;
constexpr milliseconds kDeadLetterFlushTimeout{60'000};
constexpr int kMetadataTimeoutMs = 10'000;

template <typename... Args>
void Log(fmt::format_string<Args...> format, Args&&... args) {
  fmt::print(stderr, "consume: {}\n", fmt::format(format, std::forward<Args>(args)...));
}

// The wall-clock time of a steady-clock reading, re-anchored on the system clock every 100 ms, so
// the loop reads one clock, not two (on this VM clock reads were ~10% of the consumer's CPU at
// --batch-size 100000). It stays within microseconds of the system clock; an NTP step shows up at
// the next anchor.
class WallClock {
 public:
  int64_t Micros(Clock::time_point now) {
    if (now - anchored_at_ >= kReanchorInterval || now < anchored_at_) Anchor(now);
    return anchor_micros_ + std::chrono::duration_cast<std::chrono::microseconds>(now - anchored_at_).count();
  }

 private:
  static constexpr milliseconds kReanchorInterval{100};
  void Anchor(Clock::time_point now) {
    anchored_at_ = now;
    anchor_micros_ = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  }
  Clock::time_point anchored_at_{};
  int64_t anchor_micros_ = 0;
};

struct PartitionState {
  PartitionState(int32_t partition, DateColumn date_column) : batch(partition, date_column) {}
  PartitionBatch batch;
  // The next offset expected; -1 until the first message when starting from the group's offset.
  // Anything below it is a stale fetch from before a rebalance or a rewind and is dropped.
  int64_t next_offset = -1;
};

class LandingConsumer final : public kafka::RebalanceListener {
 public:
  LandingConsumer(const ConsumeOptions& options, const std::atomic<bool>& stop, std::unique_ptr<sink::Sink> sink)
      : options_(options),
        stop_(stop),
        sink_(std::move(sink)),
        dlq_topic_(options.dlq_topic.empty() ? options.kafka.topic + ".dlq" : options.dlq_topic),
        pipeline_(sink_.get(), milliseconds(options.write_retry_ms), stop, [this] { return FlushDeadLetters(); }) {}

  arrow::Status Open();
  arrow::Status Run();
  arrow::Status Shutdown();
  // Leaves the group without landing anything more: what is buffered is re-read by whoever gets
  // the partitions next, since neither the sink nor a commit claims it.
  void Abandon(const arrow::Status& cause);
  ConsumeSummary Summary() const;
  void PrintSummary();

  arrow::Status OnAssign(std::vector<kafka::AssignedPartition>* partitions) override;
  void OnRevoke(const std::vector<int32_t>& partitions, bool lost) override;

 private:
  // `now`: when the poll returned the message.
  arrow::Status Handle(const kafka::Message& message, Clock::time_point now);
  arrow::Status SendDeadLetter(const kafka::Message& message, PartitionState* state, std::string_view reason,
                               Clock::time_point now);
  arrow::Status FlushDeadLetters();
  arrow::Status FlushDue(Clock::time_point now);
  arrow::Status FlushAll();
  arrow::Status Seal(PartitionState* state);
  arrow::Status Advance(bool block);
  arrow::Status Rewind();
  void Commit(const std::map<int32_t, int64_t>& next_offsets, bool async);
  Clock::time_point ReadClock(bool waited);
  bool IsIdle(Clock::time_point now) const;
  void MaybePrintStats(Clock::time_point now, bool force);
  int64_t Lag();

  const ConsumeOptions& options_;
  const std::atomic<bool>& stop_;
  std::unique_ptr<sink::Sink> sink_;
  const std::string dlq_topic_;
  EventJsonDecoder decoder_;
  Event event_;
  WallClock wall_clock_;
  Clock::time_point last_clock_read_ = Clock::now();
  int messages_since_clock_read_ = 0;
  std::map<int32_t, PartitionState> partitions_;
  // Per partition: the offset after the last durable batch, i.e. what may be committed.
  std::map<int32_t, int64_t> durable_next_;
  // Once a landing failed for good nothing may become durable after it.
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
  LandingPipeline pipeline_;
  // Declared last so it is destroyed first: closing it calls OnRevoke, which needs the rest.
  std::unique_ptr<kafka::Consumer> consumer_;
};

arrow::Status LandingConsumer::Open() {
  const std::string session_timeout = "10000";
  ARROW_ASSIGN_OR_RAISE(
      auto conf,
      kafka::MakeConf(options_.kafka, {
                                          {"group.id", options_.group},
                                          {"client.id", "clickstream-consume"},
                                          // Offsets are committed by hand, after the sink made them durable.
                                          {"enable.auto.commit", "false"},
                                          {"enable.auto.offset.store", "false"},
                                          {"auto.offset.reset", options_.offset_reset},
                                          // librdkafka's 45 s default keeps a killed member's
                                          // partitions idle that long; the broker's minimum is 6 s.
                                          {"session.timeout.ms", session_timeout},
                                          {"heartbeat.interval.ms", "3000"},
                                          {"enable.partition.eof", "false"},
                                          // Bounds the prefetch queue (default 64 MiB per client).
                                          // With the fetcher woken as the queue drains (see
                                          // kafka/fetch_waker.h), 8 MiB of queue and 256 KiB
                                          // fetches per partition read as fast as 16 MiB and
                                          // 1 MiB, and memory no longer grows with the topic:
                                          // peak RSS 190 -> 102 MB on 2M events, 141 -> 119 MB
                                          // on 200k.
                                          {"queued.max.messages.kbytes", "8192"},
                                          {"max.partition.fetch.bytes", "262144"},
                                      }));
  ARROW_ASSIGN_OR_RAISE(consumer_, kafka::Consumer::Make(std::move(conf), this));
  return consumer_->Subscribe(options_.kafka.topic);
}

arrow::Status LandingConsumer::OnAssign(std::vector<kafka::AssignedPartition>* partitions) {
  last_activity_ = Clock::now();
  assigned_ = true;
  // Recovery must not race a round still landing (its temp files would look abandoned).
  ARROW_RETURN_NOT_OK(Advance(/*block=*/true));
  std::set<int32_t> ids;
  for (const kafka::AssignedPartition& assigned : *partitions) ids.insert(assigned.partition);
  ARROW_ASSIGN_OR_RAISE(auto resumes, sink_->Recover(ids));
  std::string from_sink;
  std::string from_group;
  for (kafka::AssignedPartition& assigned : *partitions) {
    const sink::PartitionResume& resume = resumes[assigned.partition];
    auto [it, inserted] = partitions_.try_emplace(assigned.partition, assigned.partition, options_.date_column);
    PartitionState& state = it->second;
    if (resume.next_offset) {
      assigned.start_offset = *resume.next_offset;
      state.next_offset = *resume.next_offset;
      durable_next_[assigned.partition] = *resume.next_offset;
      from_sink += fmt::format(" p{}@{}", assigned.partition, assigned.start_offset);
    } else {
      assigned.start_offset = kafka::kStoredOffset;
      state.next_offset = -1;
      from_group += fmt::format(" p{}", assigned.partition);
    }
    if (resume.removed_leftovers > 0) {
      Log("partition {}: removed {} file(s) left by an interrupted run", assigned.partition, resume.removed_leftovers);
    }
  }
  Log("assigned {} partition(s); resuming from {}:{}{}", partitions->size(), sink_->Describe(),
      from_sink.empty() ? " none" : from_sink,
      from_group.empty() ? "" : "; from the group's offset (else " + options_.offset_reset + "):" + from_group);
  stats_.partitions = static_cast<int>(partitions_.size());
  return arrow::Status::OK();
}

void LandingConsumer::OnRevoke(const std::vector<int32_t>& partitions, bool lost) {
  last_activity_ = Clock::now();
  assigned_ = false;
  const std::set<int32_t> revoked(partitions.begin(), partitions.end());
  if (lost) {
    // The group already gave these partitions to another member, which resumes from the sink:
    // landing their buffered batches now could only duplicate what it lands.
    pipeline_.DropSealed(revoked);
    Log("lost {} partition(s) to another member: dropped their unlanded batches", partitions.size());
  } else if (failure_.ok()) {
    // The next owner resumes from the sink, so whatever is buffered must land now (the round in
    // flight included), or be left for it to re-read when landing fails. Landing everything
    // rather than only the revoked partitions keeps the batches of a partition in order.
    const arrow::Status status = FlushAll();
    if (!status.ok()) failure_ = status;
  } else {
    pipeline_.Discard();  // its files may land, but nothing more is committed
  }
  std::map<int32_t, int64_t> to_commit;
  for (int32_t partition : partitions) {
    if (!lost && failure_.ok() && durable_next_.count(partition)) to_commit[partition] = durable_next_[partition];
    partitions_.erase(partition);
    durable_next_.erase(partition);
  }
  if (!lost) Commit(to_commit, /*async=*/false);
  if (pipeline_.idle()) sink_->Forget(revoked);
  stats_.partitions = static_cast<int>(partitions_.size());
  Log("revoked {} partition(s)", partitions.size());
}

arrow::Status LandingConsumer::SendDeadLetter(const kafka::Message& message, PartitionState* state,
                                              std::string_view reason, Clock::time_point now) {
  if (!dlq_) {
    // The dead-letter topic gets the source topic's partition count when it must be created.
    const arrow::Result<std::optional<int>> count = consumer_->PartitionCount(kMetadataTimeoutMs);
    const int partitions = count.ok() && count->has_value() ? **count : 1;
    ARROW_ASSIGN_OR_RAISE(dlq_, DeadLetterQueue::Make(options_.kafka, dlq_topic_, partitions));
  }
  ARROW_RETURN_NOT_OK(dlq_->Send(message, options_.kafka.topic, reason));
  state->batch.AddDeadLetter(message.offset(), now);
  ++stats_.dead_letters;
  return arrow::Status::OK();
}

// A dead letter must be in its topic before any landed batch claims the offsets past it.
arrow::Status LandingConsumer::FlushDeadLetters() {
  if (!failure_.ok()) return failure_;
  if (!dlq_ || !dlq_->HasUnflushed()) return arrow::Status::OK();
  ARROW_RETURN_NOT_OK(RetryFor(milliseconds(options_.write_retry_ms), stop_, "dead letters",
                               [this] { return dlq_->Flush(kDeadLetterFlushTimeout); }));
  CrashPoint("after-dead-letter-flush");
  return arrow::Status::OK();
}

arrow::Status LandingConsumer::Handle(const kafka::Message& message, Clock::time_point now) {
  if (message.is_partition_eof()) return arrow::Status::OK();
  if (message.is_error()) {
    if (message.is_fatal()) return arrow::Status::IOError("fatal Kafka error: ", message.error_text());
    // A subscription to a missing topic never gets an assignment, so --exit-when-idle-ms would
    // wait forever: idleness counts from here, and the topic may still appear meanwhile.
    if (message.is_unknown_topic()) assigned_ = true;
    Log("Kafka: {}", message.error_text());
    return arrow::Status::OK();
  }
  auto it = partitions_.find(message.partition());
  if (it == partitions_.end()) return arrow::Status::OK();  // fetched before a revoke
  PartitionState& state = it->second;
  if (state.next_offset >= 0 && message.offset() < state.next_offset) return arrow::Status::OK();
  state.next_offset = message.offset() + 1;
  last_activity_ = now;
  ++stats_.messages;

  const std::string_view payload = message.value();
  if (static_cast<int64_t>(payload.size()) > options_.max_message_bytes) {
    ARROW_RETURN_NOT_OK(SendDeadLetter(
        message, &state, fmt::format("oversized: {} bytes, limit {}", payload.size(), options_.max_message_bytes),
        now));
  } else if (!message.has_value()) {
    ARROW_RETURN_NOT_OK(SendDeadLetter(message, &state, "null value", now));
  } else if (const arrow::Status decoded = decoder_.Decode(payload, &event_); !decoded.ok()) {
    ARROW_RETURN_NOT_OK(SendDeadLetter(message, &state, decoded.message(), now));
  } else {
    if (event_.source_id.empty()) {
      // A message from another tool: its Kafka coordinates are unique and stable across re-reads,
      // so a re-landed event keeps its identity (one source_id per partition, the offset as line).
      event_.source_id = fmt::format("kafka:{}:{}", options_.kafka.topic, message.partition());
      event_.source_line = message.offset();
    }
    const LandingInfo info{message.partition(), message.offset(), wall_clock_.Micros(now)};
    ARROW_RETURN_NOT_OK(state.batch.Add(event_, info, now));
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
  ARROW_ASSIGN_OR_RAISE(sink::PartitionBatchData data, state->batch.Take());
  pipeline_.Add(std::move(data));
  return arrow::Status::OK();
}

// Moves the landing pipeline on and commits what became durable. A fenced round (another member
// owns one of its partitions now) rewinds every partition to what the sink says has landed.
arrow::Status LandingConsumer::Advance(bool block) {
  if (!failure_.ok()) return failure_;
  arrow::Result<std::vector<DurableBatch>> result = pipeline_.Advance(block);
  if (!result.ok()) {
    if (sink::IsFenced(result.status())) return Rewind();
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
    ++stats_.batches;
    stats_.events += batch.rows;
    stats_.files += batch.landed.files;
    stats_.bytes += batch.landed.bytes;
  }
  Commit(to_commit, /*async=*/true);
  return arrow::Status::OK();
}

arrow::Status LandingConsumer::Rewind() {
  pipeline_.Discard();
  std::set<int32_t> owned;
  for (auto& [partition, state] : partitions_) {
    owned.insert(partition);
    (void)state.batch.Take();  // superseded by what the sink holds
  }
  pipeline_.DropSealed(owned);
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
  Log("another member landed for one of these partitions: rewinding to {}", sink_->Describe());
  return consumer_->Rewind(rewind);
}

void LandingConsumer::Commit(const std::map<int32_t, int64_t>& next_offsets, bool async) {
  if (next_offsets.empty() || !consumer_) return;
  const arrow::Status status = consumer_->Commit(next_offsets, async);
  CrashPoint("after-commit");
  // The sink, not the group, decides where a restart resumes, so a failed commit only makes the
  // reported lag stale.
  if (!status.ok()) Log("{}", status.message());
}

int64_t LandingConsumer::Lag() {
  int64_t lag = 0;
  for (const auto& [partition, state] : partitions_) {
    const int64_t high = consumer_->HighWatermark(partition);
    if (state.next_offset < 0 || high < 0) continue;
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

// Messages that were already waiting in librdkafka's queue are taken about a microsecond apart, so
// a run of them shares one clock reading (each message's ingested_at is off by at most ~0.1 ms):
// reading the clock for each cost as much as decoding the message's timestamp on this VM.
Clock::time_point LandingConsumer::ReadClock(bool waited) {
  if (waited || ++messages_since_clock_read_ >= kMessagesPerClockRead) {
    last_clock_read_ = Clock::now();
    messages_since_clock_read_ = 0;
  }
  return last_clock_read_;
}

bool LandingConsumer::IsIdle(Clock::time_point now) const {
  return options_.exit_when_idle_ms > 0 && assigned_ &&
         now - last_activity_ >= milliseconds(options_.exit_when_idle_ms);
}

arrow::Status LandingConsumer::Run() {
  while (!stop_.load()) {
    std::unique_ptr<kafka::Message> message = consumer_->Poll(static_cast<int>(kPollTimeout.count()));
    if (!consumer_->assign_error().ok()) return consumer_->assign_error();
    if (!failure_.ok()) return failure_;
    const Clock::time_point now = ReadClock(consumer_->last_poll_waited());
    if (message) ARROW_RETURN_NOT_OK(Handle(*message, now));
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
  pipeline_.Discard();
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
  ARROW_ASSIGN_OR_RAISE(auto sink, sink::OpenSink(sink::SinkOptions{options.output, options.kafka.topic,
                                                                     options.group, options.date_column,
                                                                     options.table, options.format,
                                                                     options.delta_checkpoint_interval}));
  // The destination is checked first: it fails in well under a second, where an unreachable
  // cluster takes the connection check's whole deadline.
  if (const arrow::Status reachable = kafka::CheckConnection(options.kafka); !reachable.ok()) {
    return arrow::Status::Invalid(reachable.message());
  }
  LandingConsumer consumer(options, stop, std::move(sink));
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
