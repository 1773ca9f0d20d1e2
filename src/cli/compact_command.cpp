#include <unistd.h>

#include <cctype>
#include <chrono>
#include <optional>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/age_flag.h"
#include "cli/commands.h"
#include "cli/metrics_flag.h"
#include "cli/table_commands.h"
#include "common/log.h"
#include "sink/parquet/compaction.h"

namespace clickstream::cli {

namespace {

struct CompactFlags {
  std::string output;
  int64_t target_file_mb = 128;
  std::string min_age = "1h";
  std::string metrics_listen;
};

// What `compact` exports while it runs (README, "Monitoring"): how much it has rewritten so far, day
// by day, and for how long it has been at it.
class CompactMetrics {
 public:
  explicit CompactMetrics(metrics::Registry* registry)
      : input_files_(registry->AddCounter("clickstream_compact_input_files_total",
                                          "Small Parquet files rewritten into compacted ones.", {})),
        input_bytes_(registry->AddCounter("clickstream_compact_input_bytes_total",
                                          "Bytes of the files rewritten.", {})),
        output_files_(registry->AddCounter("clickstream_compact_output_files_total",
                                           "Compacted files swapped in.", {})),
        output_bytes_(registry->AddCounter("clickstream_compact_output_bytes_total",
                                           "Bytes of the compacted files swapped in.", {})),
        days_done_(registry->AddGauge("clickstream_compact_days_done",
                                      "event_date directories finished (compacted, or left because they changed).",
                                      {})),
        days_total_(registry->AddGauge("clickstream_compact_days_total",
                                       "event_date directories this run plans to compact.", {})),
        duration_(registry->AddGauge("clickstream_compact_duration_seconds",
                                     "How long the run has taken, as of the last finished directory.", {})),
        started_(std::chrono::steady_clock::now()) {}

  void Publish(const sink::CompactionProgress& progress) const {
    input_files_.Add(static_cast<double>(progress.input_files));
    input_bytes_.Add(static_cast<double>(progress.input_bytes));
    output_files_.Add(static_cast<double>(progress.output_files));
    output_bytes_.Add(static_cast<double>(progress.output_bytes));
    days_done_.Set(static_cast<double>(progress.days_done));
    days_total_.Set(static_cast<double>(progress.days_total));
    PublishDuration();
  }

  void PublishDuration() const {
    duration_.Set(std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
  }

 private:
  metrics::Counter input_files_;
  metrics::Counter input_bytes_;
  metrics::Counter output_files_;
  metrics::Counter output_bytes_;
  metrics::Gauge days_done_;
  metrics::Gauge days_total_;
  metrics::Gauge duration_;
  std::chrono::steady_clock::time_point started_;
};

std::string Megabytes(int64_t bytes) { return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6); }

int RunCompact(const CompactFlags& flags) {
  const auto min_age = ParseAge(flags.min_age);
  if (!min_age) {
    LogCommandError("compact", "--min-age " + flags.min_age + ": expected e.g. 0, 90s, 15m, 1h or 2d");
    return kExitUsage;
  }
  Monitoring monitoring;
  if (const arrow::Status served = monitoring.Serve(flags.metrics_listen, "compact"); !served.ok()) {
    LogCommandError("compact", served.message());
    return kExitUsage;
  }
  std::optional<CompactMetrics> metrics;
  if (monitoring.server) metrics.emplace(&monitoring.registry);
  monitoring.readiness.SetReady();
  if (IsDeltaTableLocation(flags.output)) {
    return RunCompactTable(flags.output, flags.target_file_mb << 20, *min_age,
                           [&metrics](const sink::CompactionProgress& done) {
                             if (metrics) metrics->Publish(done);
                           });
  }
  sink::CompactionOptions options;
  options.target_file_bytes = flags.target_file_mb << 20;
  options.min_age = *min_age;
  // A log shipper gets one line per day, never the live line.
  const bool json = JsonLogs();
  const bool terminal = ::isatty(STDERR_FILENO) == 1 && !json;
  if (terminal || json || metrics) {
    options.on_progress = [terminal, json, &metrics](const sink::CompactionProgress& progress) {
      if (metrics) metrics->Publish(progress);
      if (json) {
        Log(LogLevel::kInfo, "compact",
            fmt::format("{}/{} days ({})", progress.days_done, progress.days_total, progress.directory),
            {{"days_done", progress.days_done}, {"days_total", progress.days_total}, {"path", progress.directory}});
      }
      if (!terminal) return;
      std::cerr << fmt::format("\rcompact: {}/{} days ({})\x1b[K", progress.days_done, progress.days_total,
                               progress.directory)
                << std::flush;
    };
  }
  const auto summary = sink::CompactDataset(flags.output, options);
  if (metrics) metrics->PublishDuration();
  if (terminal) std::cerr << "\r\x1b[K" << std::flush;
  if (!summary.ok()) {
    LogCommandError("compact", summary.status().message());
    return summary.status().IsInvalid() ? kExitUsage : kExitFailed;
  }
  std::cout << fmt::format("compacted {} days in {:.2f} s: {} files, {} before; {} files, {} after", summary->days_compacted,
                           summary->seconds, summary->files_before, Megabytes(summary->bytes_before),
                           summary->files_after, Megabytes(summary->bytes_after));
  if (summary->days_changed_meanwhile > 0) {
    std::cout << fmt::format(" ({} days changed while being compacted: left for the next run)",
                             summary->days_changed_meanwhile);
  }
  std::cout << "\n";
  return kExitOk;
}

}  // namespace

Command AddCompactCommand(CLI::App& root) {
  auto flags = std::make_shared<CompactFlags>();
  Command command;
  command.app = root.add_subcommand(
      "compact",
      "Rewrite the small landed Parquet files into few large ones per Kafka partition and event_date, while "
      "consumers keep landing: same rows, resume points kept, each day swapped atomically.");
  command.app->add_option("-o,--output", flags->output, "The landed dataset (a local directory) or Delta table")->required();
  command.app->add_option("--target-file-mb", flags->target_file_mb, "Size of a compacted file, at most")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  command.app->add_option("--min-age", flags->min_age,
                          "Leave days whose newest file is younger than this (0, 90s, 15m, 1h, 2d): they may "
                          "still be written to")
      ->capture_default_str();
  AddMetricsListenFlag(command.app, &flags->metrics_listen);
  command.run = [flags] { return RunCompact(*flags); };
  return command;
}

}  // namespace clickstream::cli
