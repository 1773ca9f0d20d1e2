#include "produce/replay.h"

#include <algorithm>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "common/log.h"
#include "produce/block_encoder.h"
#include "produce/produce_metrics.h"

namespace clickstream::produce {

namespace {

using Clock = PacerClock;
using std::chrono::milliseconds;

// How often the loop serves delivery reports and looks at the clock for progress reports; reading
// the clock for every event cost 4% of the unthrottled loop.
constexpr int64_t kPollEveryEvents = 256;
constexpr milliseconds kProgressLineInterval{250};
constexpr milliseconds kLongestSleep{50};
// How often the registry is brought up to date: well inside any scrape interval.
constexpr milliseconds kMetricsInterval{250};

double SecondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string FormatDuration(double seconds) {
  const auto total = static_cast<int64_t>(seconds + 0.5);
  return fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60);
}

class ReplayLoop {
 public:
  ReplayLoop(source::EventSource* source, const ReplayOptions& options, const StopSignal& stop, std::FILE* rejects,
             std::FILE* log, ReplayObservers observers)
      : source_(source),
        options_(options),
        stop_(stop),
        rejects_(rejects),
        log_(log),
        pacer_(options.pacing),
        readiness_(observers.readiness) {
    if (observers.registry != nullptr) {
      const double target = options.pacing.speed > 0 ? 0 : options.pacing.rate;
      metrics_.emplace(observers.registry, options.topic, target);
    }
  }

  arrow::Status Init(kafka::ConfPtr conf) {
    kafka::ProducerCallbacks callbacks;
    callbacks.on_delivery = [this](const kafka::DeliveryReport& report) {
      if (report.delivered) return;
      NoteFailure(report.error);
      if (metrics_) metrics_->CountFailure(report.error_name);
    };
    ARROW_ASSIGN_OR_RAISE(producer_, kafka::Producer::Make(std::move(conf), std::move(callbacks)));
    if (readiness_ != nullptr) readiness_->SetReady();
    return arrow::Status::OK();
  }

  arrow::Result<ReplaySummary> Run() {
    start_ = Clock::now();
    next_report_ = start_ + ReportInterval();
    const arrow::Status sent = SendAll();
    if (!sent.ok()) summary_.input_error = sent.message();
    Drain();
    return Summarise();
  }

 private:
  milliseconds ReportInterval() const { return options_.progress_line ? kProgressLineInterval : options_.log_interval; }

  // Rows come read and encoded from the BlockEncoder's thread; this thread only paces, produces
  // and serves delivery reports. Destroying the encoder on the way out stops its read-ahead.
  arrow::Status SendAll() {
    BlockEncoder encoder(source_);
    // While the encoder reads ahead, and before the pacer's first event is due.
    producer_->PrepareTopic(options_.topic);
    while (!stop_.requested.load()) {
      std::unique_ptr<EncodedBlock> block = encoder.Next();
      if (!block) break;
      const bool go_on = SendBlock(*block);
      arrow::Status input_error = std::move(block->input_error);
      encoder.Recycle(std::move(block));
      if (!go_on) break;
      ARROW_RETURN_NOT_OK(input_error);
    }
    return arrow::Status::OK();
  }

  // Sends the block's rows in order and reports its rejects. False when the loop must stop
  // (--limit reached, --strict met a bad row, a stop signal).
  bool SendBlock(const EncodedBlock& block) {
    pending_.clear();
    for (const EncodedRow& row : block.rows) {
      const int64_t sent = summary_.sent + static_cast<int64_t>(pending_.size());
      if ((options_.limit >= 0 && sent >= options_.limit) || stop_.requested.load()) {
        SendPending();
        return false;
      }
      ++summary_.read;
      bytes_consumed_ = row.input_end;
      if (row.kind == EncodedRow::Kind::kRejected) {
        if (!SendPending()) return false;
        ReportReject(row.line, block.Text(row));
        if (options_.strict) {
          summary_.stopped_by_strict = true;
          return false;
        }
        continue;
      }
      pending_.push_back({block.Key(row), block.Text(row)});
      if (!pacer_.unthrottled()) {
        // Paced: each event waits for its moment and goes alone.
        if (!WaitUntil(pacer_.Reserve(row.event_time_ms, Clock::now()))) {
          pending_.clear();  // stopped while waiting for it: read, not sent
          return false;
        }
        if (!SendPending()) return false;
      }
    }
    return SendPending();
  }

  // Hands the pending messages to the producer in one call. False when the loop must stop (a
  // stop signal while the producer queue was full).
  bool SendPending() {
    if (pending_.empty()) return true;
    kafka::BatchOutcome outcome;
    const arrow::Status status = producer_->ProduceBatch(options_.topic, pending_, &outcome, &stop_.requested);
    pending_.clear();
    summary_.sent += outcome.enqueued;
    if (outcome.failed > 0) {
      produce_errors_ += outcome.failed;
      NoteFailure(outcome.first_error);
      if (metrics_) {
        for (const auto& [name, events] : outcome.failed_by_name) metrics_->CountFailure(name, events);
      }
    }
    if (status.IsCancelled()) return false;
    if (!status.ok()) {
      NoteFailure(status.message());
      return true;
    }
    if (summary_.sent - sent_at_last_poll_ >= kPollEveryEvents) {
      sent_at_last_poll_ = summary_.sent;
      producer_->Poll(0);
      ReportIfDue();
    }
    return true;
  }

  // Sleeps until the event is due, serving delivery reports meanwhile. False when a stop signal
  // arrived first.
  bool WaitUntil(Clock::time_point due) {
    while (true) {
      const Clock::time_point now = Clock::now();
      if (now >= due) return true;
      if (stop_.requested.load()) return false;
      producer_->Poll(0);
      ReportIfDue();  // slow --speed replays may wait minutes between events
      std::this_thread::sleep_for(std::min<Clock::duration>(due - now, kLongestSleep));
    }
  }

  void ReportReject(int64_t line, std::string_view reason) {
    ++summary_.rejected;
    if (live_line_shown_ && rejects_ == log_) ClearLiveLine();
    // Rejects that share the log's stream are log lines; a --rejects file keeps "line N: reason".
    if (rejects_ == log_ && JsonLogs()) {
      WriteLog({LogLevel::kWarning, "produce", fmt::format("line {}: {}", line, reason),
                {{"line", line}, {"reason", reason}}, std::string()},
               log_);
      return;
    }
    std::fprintf(rejects_, "line %lld: %.*s\n", static_cast<long long>(line), static_cast<int>(reason.size()),
                 reason.data());
  }

  void NoteFailure(std::string_view reason) {
    if (summary_.first_failure.empty()) summary_.first_failure = std::string(reason);
  }

  // After the input: wait for every delivery report. librdkafka's message.timeout.ms bounds this
  // (undeliverable messages then fail); a stop signal shortens it to options_.shutdown_flush.
  void Drain() {
    while (producer_->counts().in_flight() > 0 && !stop_.requested.load()) {
      (void)producer_->Flush(milliseconds(500));
      ReportIfDue();
    }
    if (producer_->counts().in_flight() > 0) {
      if (!producer_->Flush(options_.shutdown_flush).ok()) NoteFailure("still unconfirmed when stopped");
    }
  }

  ReplaySummary Summarise() {
    if (live_line_shown_) ClearLiveLine();
    PublishMetrics(Clock::now());
    const kafka::DeliveryCounts& counts = producer_->counts();
    summary_.delivered = counts.delivered;
    summary_.failed = counts.failed + counts.in_flight() + produce_errors_;
    summary_.elapsed_seconds = SecondsBetween(start_, Clock::now());
    summary_.signal_number = stop_.signal_number.load();
    if (summary_.first_failure.empty() && !producer_->FatalError().ok()) {
      summary_.first_failure = producer_->FatalError().message();
    }
    return summary_;
  }

  void ReportIfDue() {
    const Clock::time_point now = Clock::now();
    if (metrics_ && now >= next_publish_) PublishMetrics(now);
    if (now < next_report_) return;
    next_report_ = now + ReportInterval();
    const std::string status = ProgressText(now);
    if (options_.progress_line) {
      std::fprintf(log_, "\rproduce: %s\x1b[K", status.c_str());
      live_line_shown_ = true;
      std::fflush(log_);
    } else {
      const kafka::DeliveryCounts& counts = producer_->counts();
      WriteLog({LogLevel::kInfo, "produce", status,
                {{"sent", summary_.sent}, {"delivered", counts.delivered}, {"in_flight", counts.in_flight()},
                 {"rejected", summary_.rejected}, {"rate", summary_.sent / std::max(SecondsBetween(start_, now), 1e-9)}},
                std::nullopt},
               log_);
    }
  }

  void PublishMetrics(Clock::time_point now) {
    if (!metrics_) return;
    next_publish_ = now + kMetricsInterval;
    const kafka::DeliveryCounts& counts = producer_->counts();
    metrics_->Publish({summary_.sent, counts.delivered, counts.in_flight()}, now);
    if (auto statistics = producer_->TakeStatistics()) metrics_->PublishStatistics(*statistics);
    if (readiness_ != nullptr && !producer_->FatalError().ok()) {
      readiness_->SetNotReady("the producer failed: " + producer_->FatalError().message());
    }
  }

  std::string ProgressText(Clock::time_point now) const {
    const double elapsed = std::max(SecondsBetween(start_, now), 1e-9);
    const kafka::DeliveryCounts& counts = producer_->counts();
    std::string text = fmt::format("sent {} ({:.0f}/s), delivered {}, in flight {}, rejected {}",
                                   summary_.sent, summary_.sent / elapsed, counts.delivered, counts.in_flight(),
                                   summary_.rejected);
    const int64_t size = source_->size_bytes();
    const int64_t consumed = bytes_consumed_;
    double fraction = size > 0 ? static_cast<double>(consumed) / static_cast<double>(size) : -1;
    if (options_.limit > 0) {
      fraction = std::max(fraction, static_cast<double>(summary_.sent) / static_cast<double>(options_.limit));
    }
    if (fraction > 0) {
      text += fmt::format(", {:.0f}% ETA {}", 100 * fraction, FormatDuration(elapsed * (1 - fraction) / fraction));
    }
    return text;
  }

  void ClearLiveLine() {
    std::fprintf(log_, "\r\x1b[K");
    live_line_shown_ = false;
  }

  source::EventSource* source_;
  const ReplayOptions& options_;
  const StopSignal& stop_;
  std::FILE* rejects_;
  std::FILE* log_;
  Pacer pacer_;
  metrics::Readiness* readiness_;
  std::optional<ProduceMetrics> metrics_;
  Clock::time_point next_publish_;
  ReplaySummary summary_;
  int64_t produce_errors_ = 0;
  int64_t sent_at_last_poll_ = 0;
  int64_t bytes_consumed_ = 0;  // of the input, up to the last row sent (or read while waiting)
  std::vector<kafka::KeyedValue> pending_;
  Clock::time_point start_;
  Clock::time_point next_report_;
  bool live_line_shown_ = false;
  // Declared last so it is destroyed first: ~Producer purges what is still in flight (after a stop
  // signal) and serves those delivery reports, whose callback writes into the members above.
  std::unique_ptr<kafka::Producer> producer_;
};

}  // namespace

std::vector<std::pair<std::string, std::string>> ReplayProducerDefaults() {
  return {
      // Names this client in the broker's logs and in its own error lines (as the consumer's do).
      {"client.id", "clickstream-produce"},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "10"},
      {"compression.type", "lz4"},
      {"batch.size", "1000000"},
      // librdkafka's own default (what kcat runs with). 50000 made the unthrottled loop stall on a
      // full queue whenever the broker acknowledged slowly: 20-40% slower on a loaded machine.
      {"queue.buffering.max.messages", "100000"},
      // What bounds the producer's memory: the queue is what grows with the input (a longer run
      // fills it further; 100,000 queued events took ~45 MB, peak RSS +48% from 200k to 2M
      // events). 8 MB of values (~30,000 events) still fills batch.size batches on six partitions
      // (avg 3,860 events per request, as with 100,000), and a short queue keeps the events
      // librdkafka copies into requests warm in cache: less CPU than 16 MB. Peak RSS ~61 MB at
      // both 200k and 2M events.
      {"queue.buffering.max.kbytes", "8192"},
  };
}

arrow::Result<ReplaySummary> Replay(source::EventSource* source, kafka::ConfPtr conf, const ReplayOptions& options,
                                    const StopSignal& stop, std::FILE* rejects, std::FILE* log,
                                    ReplayObservers observers) {
  ReplayLoop loop(source, options, stop, rejects, log, observers);
  ARROW_RETURN_NOT_OK(loop.Init(std::move(conf)));
  return loop.Run();
}

std::string FormatSummary(const ReplaySummary& summary) {
  const double rate = summary.elapsed_seconds > 0 ? summary.sent / summary.elapsed_seconds : 0;
  return fmt::format("read {} rows: sent {}, delivered {}, rejected {}, failed {} in {:.2f} s ({:.0f} events/s)",
                     summary.read, summary.sent, summary.delivered, summary.rejected, summary.failed,
                     summary.elapsed_seconds, rate);
}

}  // namespace clickstream::produce
