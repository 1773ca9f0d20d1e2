#include "consume/landing_consumer.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "common/crash_point.h"
#include "consume/clock.h"
#include "consume/consume_metrics.h"
#include "consume/consume_stats.h"
#include "consume/dead_letters.h"
#include "consume/ingest_latency.h"
#include "consume/landing_pipeline.h"
#include "consume/log.h"
#include "consume/partition_batch.h"
#include "consume/rebalance.h"
#include "event/json_codec.h"
#include "kafka/connection_check.h"
#include "kafka/consumer.h"
#include "kafka/fetch_refill.h"
#include "sink/open_sink.h"

namespace clickstream::consume {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kPollTimeout{100};
constexpr milliseconds kDueCheckInterval{50};
constexpr milliseconds kDeadLetterFlushTimeout{60'000};
constexpr int kMetadataTimeoutMs = 10'000;
// How often the metrics are brought up to date from the consumer's own counts.
constexpr milliseconds kMetricsInterval{250};

class LandingConsumer final : public kafka::RebalanceListener, public GroupPositions {
 public:
  LandingConsumer(const ConsumeOptions& options, const std::atomic<bool>& stop, std::unique_ptr<sink::Sink> sink,
                  metrics::Registry* registry, metrics::Readiness* readiness)
      : options_(options),
        stop_(stop),
        sink_(std::move(sink)),
        dlq_topic_(options.dlq_topic.empty() ? options.kafka.topic + ".dlq" : options.dlq_topic),
        metrics_(registry, options.kafka.topic, SinkLabel(options.output, options.format == sink::TableFormat::kDelta)),
        latency_(metrics_.latency_bounds()),
        readiness_(readiness),
        pipeline_(sink_.get(), milliseconds(options.write_retry_ms), stop, [this] { return FlushDeadLetters(); }),
        assigned_partitions_(sink_.get(), &pipeline_, this, options.date_column, &stats_) {
    assigned_partitions_.set_on_durable([this](const std::vector<DurableBatch>& batches) { ObserveDurable(batches); });
  }

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

  void Commit(const std::map<int32_t, int64_t>& next_offsets, bool async) override;
  arrow::Status Rewind(const std::map<int32_t, int64_t>& next_offsets) override;

 private:
  // `now`: when the poll returned the message.
  arrow::Status Handle(const kafka::Message& message, Clock::time_point now);
  arrow::Status SendDeadLetter(const kafka::Message& message, PartitionState* state, std::string_view reason,
                               std::string_view reason_code, Clock::time_point now);
  arrow::Status FlushDeadLetters();
  arrow::Status FlushDue(Clock::time_point now);
  bool IsIdle(Clock::time_point now) const;
  void MaybePrintStats(Clock::time_point now, bool force);
  int64_t Lag();
  void ObserveDurable(const std::vector<DurableBatch>& batches);
  void MaybePublishMetrics(Clock::time_point now, bool force);
  void PublishPartitions();
  void UpdateReadiness();

  const ConsumeOptions& options_;
  const std::atomic<bool>& stop_;
  std::unique_ptr<sink::Sink> sink_;
  const std::string dlq_topic_;
  EventJsonDecoder decoder_;
  Event event_;
  WallClock wall_clock_;
  ClockSampler clock_;
  ConsumeStats stats_;
  ConsumeMetrics metrics_;
  IngestLatency latency_;
  metrics::Readiness* readiness_;  // may be null
  bool ever_assigned_ = false;
  Clock::time_point last_metrics_at_ = started_at_;
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
  AssignedPartitions assigned_partitions_;
  // Declared last so it is destroyed first: closing it calls OnRevoke, which needs the rest.
  std::unique_ptr<kafka::Consumer> consumer_;
};

arrow::Status LandingConsumer::Open() {
  const std::string session_timeout = "10000";
  ARROW_ASSIGN_OR_RAISE(
      auto conf,
      kafka::MakeConsumerConf(options_.kafka, {
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
                                          {"statistics.interval.ms",
                                           std::to_string(options_.kafka_statistics_interval_ms)},
                                      }));
  ARROW_ASSIGN_OR_RAISE(consumer_, kafka::Consumer::Make(std::move(conf), this));
  return consumer_->Subscribe(options_.kafka.topic);
}

arrow::Status LandingConsumer::OnAssign(std::vector<kafka::AssignedPartition>* partitions) {
  last_activity_ = Clock::now();
  assigned_ = true;
  ever_assigned_ = true;
  ++stats_.rebalances;
  std::set<int32_t> ids;
  for (const kafka::AssignedPartition& assigned : *partitions) ids.insert(assigned.partition);
  ARROW_ASSIGN_OR_RAISE(auto starts, assigned_partitions_.Assign(ids));
  std::string from_sink;
  std::string from_group;
  for (kafka::AssignedPartition& assigned : *partitions) {
    const std::optional<int64_t>& start = starts[assigned.partition];
    if (start) {
      assigned.start_offset = *start;
      from_sink += fmt::format(" p{}@{}", assigned.partition, assigned.start_offset);
    } else {
      assigned.start_offset = kafka::kStoredOffset;
      from_group += fmt::format(" p{}", assigned.partition);
    }
  }
  LogWith(LogLevel::kInfo, {{"partitions", partitions->size()}, {"destination", sink_->Describe()}},
          "assigned {} partition(s); resuming from {}:{}{}", partitions->size(), sink_->Describe(),
          from_sink.empty() ? " none" : from_sink,
          from_group.empty() ? "" : "; from the group's offset (else " + options_.offset_reset + "):" + from_group);
  return arrow::Status::OK();
}

void LandingConsumer::OnRevoke(const std::vector<int32_t>& partitions, bool lost) {
  last_activity_ = Clock::now();
  assigned_ = false;
  const std::set<int32_t> revoked(partitions.begin(), partitions.end());
  for (int32_t partition : revoked) {
    metrics_.ForgetPartition(partition);
    latency_.Forget(partition);
  }
  if (lost) {
    assigned_partitions_.Lose(revoked);
  } else {
    assigned_partitions_.Revoke(revoked);
  }
}

void LandingConsumer::Commit(const std::map<int32_t, int64_t>& next_offsets, bool async) {
  if (next_offsets.empty() || !consumer_) return;
  const arrow::Status status = consumer_->Commit(next_offsets, async);
  CrashPoint("after-commit");
  if (!status.ok()) LogWith(LogLevel::kWarning, {}, "{}", status.message());
}

arrow::Status LandingConsumer::Rewind(const std::map<int32_t, int64_t>& next_offsets) {
  return consumer_->Rewind(next_offsets);
}

arrow::Status LandingConsumer::SendDeadLetter(const kafka::Message& message, PartitionState* state,
                                              std::string_view reason, std::string_view reason_code,
                                              Clock::time_point now) {
  if (!dlq_) {
    // The dead-letter topic gets the source topic's partition count when it must be created.
    ARROW_ASSIGN_OR_RAISE(const int partitions,
                          DeadLetterPartitions(consumer_->PartitionCount(kMetadataTimeoutMs), options_.kafka.topic,
                                               dlq_topic_));
    ARROW_ASSIGN_OR_RAISE(dlq_, DeadLetterQueue::Make(options_.kafka, dlq_topic_, partitions));
  }
  ARROW_RETURN_NOT_OK(dlq_->Send(message, options_.kafka.topic, reason, reason_code));
  state->batch.AddDeadLetter(message.offset(), now);
  ++stats_.dead_letters;
  metrics_.CountDeadLetter(reason_code);
  return arrow::Status::OK();
}

// A dead letter must be in its topic before any landed batch claims the offsets past it.
arrow::Status LandingConsumer::FlushDeadLetters() {
  if (!assigned_partitions_.failure().ok()) return assigned_partitions_.failure();
  if (!dlq_ || !dlq_->HasUnflushed()) return arrow::Status::OK();
  ARROW_RETURN_NOT_OK(RetryFor(
      milliseconds(options_.write_retry_ms), stop_, "dead letters",
      [this] { return dlq_->Flush(kDeadLetterFlushTimeout); }, &pipeline_.retry_state()));
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
    LogWith(LogLevel::kWarning, {}, "Kafka: {}", message.error_text());
    return arrow::Status::OK();
  }
  PartitionState* found = assigned_partitions_.Find(message.partition());
  if (found == nullptr) return arrow::Status::OK();  // fetched before a revoke
  PartitionState& state = *found;
  if (state.next_offset >= 0 && message.offset() < state.next_offset) return arrow::Status::OK();
  if (state.first_read < 0) state.first_read = message.offset();
  state.next_offset = message.offset() + 1;
  last_activity_ = now;
  ++stats_.messages;

  const std::string_view payload = message.value();
  if (static_cast<int64_t>(payload.size()) > options_.max_message_bytes) {
    ARROW_RETURN_NOT_OK(SendDeadLetter(
        message, &state, fmt::format("oversized: {} bytes, limit {}", payload.size(), options_.max_message_bytes),
        "oversized", now));
  } else if (!message.has_value()) {
    ARROW_RETURN_NOT_OK(SendDeadLetter(message, &state, "null value", "null_value", now));
  } else if (const arrow::Status decoded = decoder_.Decode(payload, &event_); !decoded.ok()) {
    ARROW_RETURN_NOT_OK(
        SendDeadLetter(message, &state, decoded.message(), DecodeFailureCode(DecodeFailureOf(decoded)), now));
  } else {
    if (event_.source_id.empty()) {
      // A message from another tool: its Kafka coordinates are unique and stable across re-reads,
      // so a re-landed event keeps its identity (one source_id per partition, the offset as line).
      event_.source_id = fmt::format("kafka:{}:{}", options_.kafka.topic, message.partition());
      event_.source_line = message.offset();
    }
    const LandingInfo info{message.partition(), message.offset(), wall_clock_.Micros(now)};
    latency_.Read(message.partition(), message.offset(), message.timestamp_ms());
    ARROW_RETURN_NOT_OK(state.batch.Add(event_, info, now));
  }
  if (state.batch.messages() >= options_.batch_size) {
    ARROW_RETURN_NOT_OK(assigned_partitions_.Seal(&state));
    return assigned_partitions_.Advance(/*block=*/false);
  }
  return arrow::Status::OK();
}

arrow::Status LandingConsumer::FlushDue(Clock::time_point now) {
  if (now - last_due_check_ >= kDueCheckInterval) {
    last_due_check_ = now;
    ARROW_RETURN_NOT_OK(
        assigned_partitions_.SealDue(now, options_.batch_size, milliseconds(options_.flush_interval_ms)));
  }
  return assigned_partitions_.Advance(/*block=*/false);
}

int64_t LandingConsumer::Lag() {
  int64_t lag = 0;
  for (const auto& [partition, state] : assigned_partitions_.partitions()) {
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
  LogWith(LogLevel::kInfo, StatsFields(stats_, rate), "{}", FormatStatsLine(stats_, rate));
  last_stats_at_ = now;
  events_at_last_stats_ = stats_.events;
}

void LandingConsumer::ObserveDurable(const std::vector<DurableBatch>& batches) {
  const int64_t now_ms = wall_clock_.Micros(Clock::now()) / 1000;
  std::vector<double> bucket_counts;
  double sum = 0;
  for (const DurableBatch& batch : batches) latency_.Durable(batch.partition, batch.next_offset, now_ms, &bucket_counts, &sum);
  if (!bucket_counts.empty()) metrics_.ObserveLatencies(bucket_counts, sum);
  metrics_.SetLandedNow(static_cast<double>(now_ms) / 1000.0);
}

// Lag per partition: the high watermark minus what the destination holds. With nothing of the
// partition in the sink yet, the destination's progress is where this member started reading.
void LandingConsumer::PublishPartitions() {
  const std::map<int32_t, int64_t>& durable = assigned_partitions_.durable_next();
  for (const auto& [partition, state] : assigned_partitions_.partitions()) {
    const int64_t high = consumer_->HighWatermark(partition);
    const auto landed = durable.find(partition);
    const int64_t landed_next = landed != durable.end() ? landed->second : state.first_read;
    if (high < 0 || landed_next < 0) continue;
    metrics_.PublishPartition(partition, high, landed_next);
  }
  if (std::optional<kafka::ClientStatistics> statistics = consumer_->TakeStatistics()) {
    metrics_.PublishStatistics(*statistics);
  }
}

void LandingConsumer::UpdateReadiness() {
  if (readiness_ == nullptr) return;
  if (!assigned_partitions_.failure().ok()) {
    readiness_->SetNotReady("landing failed: " + assigned_partitions_.failure().message());
  } else if (!assigned_) {
    readiness_->SetNotReady(ever_assigned_ ? "rebalancing: waiting for the group's assignment"
                                           : "waiting for the group's first assignment");
  } else if (pipeline_.retry_state().failing.load()) {
    readiness_->SetNotReady("landing into " + sink_->Describe() + " keeps failing; retrying");
  } else {
    readiness_->SetReady();
  }
}

void LandingConsumer::MaybePublishMetrics(Clock::time_point now, bool force) {
  if (!force && now - last_metrics_at_ < kMetricsInterval) return;
  last_metrics_at_ = now;
  stats_.rounds = pipeline_.rounds_landed();
  stats_.write_retries = pipeline_.retry_state().retries.load();
  for (double seconds : pipeline_.TakeRoundSeconds()) metrics_.ObserveRound(seconds);
  metrics_.SetLandingFailing(pipeline_.retry_state().failing.load());
  PublishPartitions();
  metrics_.Publish(stats_);
  UpdateReadiness();
}

bool LandingConsumer::IsIdle(Clock::time_point now) const {
  return options_.exit_when_idle_ms > 0 && assigned_ &&
         now - last_activity_ >= milliseconds(options_.exit_when_idle_ms);
}

arrow::Status LandingConsumer::Run() {
  while (!stop_.load()) {
    std::unique_ptr<kafka::Message> message = consumer_->Poll(static_cast<int>(kPollTimeout.count()));
    if (!consumer_->assign_error().ok()) return consumer_->assign_error();
    if (!assigned_partitions_.failure().ok()) return assigned_partitions_.failure();
    const Clock::time_point now = clock_.Read(consumer_->last_poll_waited());
    if (message) ARROW_RETURN_NOT_OK(Handle(*message, now));
    ARROW_RETURN_NOT_OK(FlushDue(now));
    MaybePrintStats(now, false);
    MaybePublishMetrics(now, false);
    if (IsIdle(now)) {
      LogWith(LogLevel::kInfo, {{"idle_ms", options_.exit_when_idle_ms}}, "no new message for {} ms: finishing",
              options_.exit_when_idle_ms);
      break;
    }
  }
  return arrow::Status::OK();
}

arrow::Status LandingConsumer::Shutdown() {
  arrow::Status status = assigned_partitions_.FlushAll();
  stats_.lag = Lag();
  MaybePublishMetrics(Clock::now(), /*force=*/true);
  if (status.ok()) {
    Commit(assigned_partitions_.durable_next(), /*async=*/false);
  } else {
    // Nothing more may land; the revoke in Close() must not write either.
    assigned_partitions_.Fail(status);
  }
  // Leaving the group at once hands the partitions to the other members without a session timeout.
  const arrow::Status closed = consumer_->Close();
  if (!closed.ok()) LogWith(LogLevel::kWarning, {}, "{}", closed.message());
  if (dlq_ && status.ok()) status = dlq_->Flush(kDeadLetterFlushTimeout);
  return status.ok() ? assigned_partitions_.failure() : status;
}

void LandingConsumer::Abandon(const arrow::Status& cause) {
  assigned_partitions_.Fail(cause);
  // Its files may still land (the next run resumes from them), but nothing more is committed.
  pipeline_.Discard();
  const arrow::Status closed = consumer_ ? consumer_->Close() : arrow::Status::OK();
  if (!closed.ok()) LogWith(LogLevel::kWarning, {}, "{}", closed.message());
}

void LandingConsumer::PrintSummary() {
  const double seconds = std::chrono::duration<double>(Clock::now() - started_at_).count();
  const bool ok = assigned_partitions_.failure().ok();
  const double rate = seconds > 0 ? static_cast<double>(stats_.events) / seconds : 0;
  std::vector<LogField> fields = StatsFields(stats_, rate);
  fields.emplace_back("seconds", seconds);
  LogWith(ok ? LogLevel::kInfo : LogLevel::kError, std::move(fields), "{} in {:.1f} s: {}",
          ok ? "finished" : "stopped after an error", seconds, FormatStatsLine(stats_, rate));
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

arrow::Result<ConsumeSummary> RunConsume(const ConsumeOptions& options, const std::atomic<bool>& stop,
                                         ConsumeObservers observers) {
  metrics::Registry own_registry;
  metrics::Registry* registry = observers.registry != nullptr ? observers.registry : &own_registry;
  ARROW_ASSIGN_OR_RAISE(auto sink, sink::OpenSink(sink::SinkOptions{options.output, options.kafka.topic,
                                                                     options.group, options.date_column,
                                                                     options.table, options.format,
                                                                     options.delta_checkpoint_interval}));
  // The destination is checked first: it fails in well under a second, where an unreachable
  // cluster takes the connection check's whole deadline.
  if (const arrow::Status reachable = kafka::CheckConnection(options.kafka); !reachable.ok()) {
    return arrow::Status::Invalid(reachable.message());
  }
  // Which refill path runs depends on the shared library found at run time, not on the build. Said
  // once the destination and the cluster are usable, so a start-up failure stays one line.
  LogWith(LogLevel::kInfo, {{"librdkafka", kafka::LibrdkafkaVersion()}}, "librdkafka {}, fetch refill by the {}",
          kafka::LibrdkafkaVersion(), kafka::FetchRefillPathName(kafka::RunningFetchRefillPath()));
  LandingConsumer consumer(options, stop, std::move(sink), registry, observers.readiness);
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
