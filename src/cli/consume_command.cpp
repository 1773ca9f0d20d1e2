#include <iostream>
#include <map>
#include <memory>

#include "cli/commands.h"
#include "common/log.h"
#include "cli/kafka_flags.h"
#include "cli/metrics_flag.h"
#include "common/stop_signal.h"
#include "consume/landing_consumer.h"
#include "kafka/config.h"

namespace clickstream::cli {

Command AddConsumeCommand(CLI::App& root) {
  auto options = std::make_shared<consume::ConsumeOptions>();
  auto partition_by = std::make_shared<std::string>("event_date");
  auto format = std::make_shared<std::string>("parquet");
  auto metrics_listen = std::make_shared<std::string>();
  Command command;
  CLI::App* app = root.add_subcommand(
      "consume",
      "Land the topic's events exactly once: as a Parquet dataset in a directory or under s3://bucket/prefix, or "
      "in a PostgreSQL table. Progress lives in the destination (file names, or an offsets table): use one "
      "output per topic.");
  command.app = app;
  app->add_option("-o,--output", options->output,
                  "Where to land: a directory (Parquet dataset), s3://bucket/prefix or postgresql://user@host:port/db")->required();
  app->add_option("--table", options->table,
                  "With a postgresql:// output: the table (TABLE or SCHEMA.TABLE, default clickstream_events); "
                  "created partitioned by day when missing");
  app->add_option("--format", *format,
                  "With a directory: parquet (a Parquet dataset whose file names record the progress) or delta (a "
                  "Delta Lake table whose log does)")
      ->capture_default_str()
      ->check(CLI::IsMember({"parquet", "delta"}));
  app->add_option("--delta-checkpoint-interval", options->delta_checkpoint_interval,
                  "With --format delta: write a checkpoint every this many table versions")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  AddKafkaFlags(app, &options->kafka);
  app->add_option("-g,--group", options->group, "Consumer group id")->capture_default_str();
  app->add_option("--batch-size", options->batch_size, "Events per Parquet batch (per Kafka partition)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--flush-interval-ms", options->flush_interval_ms,
                  "Write a partition's batch once its first event waited this long")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--offset-reset", options->offset_reset,
                  "Where a partition starts when no landed file and no committed offset says otherwise")
      ->capture_default_str()
      ->check(CLI::IsMember({"earliest", "latest"}));
  app->add_option("--dlq-topic", options->dlq_topic, "Dead-letter topic for invalid messages (default: <topic>.dlq)");
  app->add_option("--partition-by", *partition_by,
                  "event_date: Hive-style event_date=YYYY-MM-DD/ directories; none: one flat directory")
      ->capture_default_str()
      ->check(CLI::IsMember({"event_date", "none"}));
  app->add_option("--exit-when-idle-ms", options->exit_when_idle_ms,
                  "Finish (land, commit, exit 0) after this long without a new message; 0: never")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--max-message-bytes", options->max_message_bytes,
                  "Larger messages are dead letters (reason: oversized)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--write-retry-ms", options->write_retry_ms,
                  "How long a failing write (disk full, permission denied) is retried before exiting non-zero")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--stats-interval-ms", options->stats_interval_ms, "How often the stats line is printed")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  AddMetricsListenFlag(app, metrics_listen.get());

  command.run = [options, partition_by, format, metrics_listen] {
    options->date_column = *partition_by == "none" ? DateColumn::kInFile : DateColumn::kInPath;
    options->format = *format == "delta" ? sink::TableFormat::kDelta : sink::TableFormat::kParquetDataset;
    Monitoring monitoring;
    if (const arrow::Status served = monitoring.Serve(*metrics_listen, "consume"); !served.ok()) {
      LogCommandError("consume", served.message());
      return kExitUsage;
    }
    // librdkafka's statistics are only worth their JSON when somebody scrapes them.
    if (monitoring.server) options->kafka_statistics_interval_ms = 1000;
    const StopSignal& stop = InstallStopSignalHandlers();
    const auto result = consume::RunConsume(*options, stop.requested, {&monitoring.registry, &monitoring.readiness});
    if (!result.ok()) {
      LogCommandError("consume", result.status().message());
      return result.status().IsInvalid() ? kExitUsage : kExitFailed;
    }
    return kExitOk;
  };
  return command;
}

}  // namespace clickstream::cli
