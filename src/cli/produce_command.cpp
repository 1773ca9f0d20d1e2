#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/kafka_flags.h"
#include "cli/metrics_flag.h"
#include "common/log.h"
#include "common/stop_signal.h"
#include "kafka/admin.h"
#include "kafka/config.h"
#include "kafka/connection_check.h"
#include "produce/replay.h"
#include "source/event_source.h"

namespace clickstream::cli {

namespace {

struct ProduceFlags {
  std::string input;
  kafka::KafkaOptions kafka;
  double rate = 1000;
  double speed = 0;
  int64_t limit = -1;
  int partitions = 6;
  int replication_factor = -1;  // the cluster's default.replication.factor
  std::string rejects_path;
  bool strict = false;
  bool progress = false;
  bool no_progress = false;
  std::string metrics_listen;
};

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

int Fail(int code, const std::string& message) {
  LogCommandError("produce", message);
  return code;
}

std::vector<LogField> SummaryFields(const produce::ReplaySummary& summary) {
  return {{"read", summary.read},         {"sent", summary.sent},     {"delivered", summary.delivered},
          {"rejected", summary.rejected}, {"failed", summary.failed}, {"seconds", summary.elapsed_seconds}};
}

int ExitCodeFor(const produce::ReplaySummary& summary) {
  if (summary.signal_number == SIGINT) return kExitInterrupted;
  if (summary.signal_number == SIGTERM) return kExitTerminated;
  if (summary.stopped_by_strict || !summary.input_error.empty()) return kExitInput;
  return summary.failed > 0 ? kExitFailed : kExitOk;
}

int RunProduce(const ProduceFlags& flags) {
  const StopSignal& stop = InstallStopSignalHandlers();

  auto source = source::EventSource::Open(flags.input);
  if (!source.ok()) return Fail(kExitInput, source.status().message());

  std::unique_ptr<std::FILE, FileCloser> rejects_file;
  std::FILE* rejects = stderr;
  if (!flags.rejects_path.empty() && flags.rejects_path != "-") {
    rejects_file.reset(std::fopen(flags.rejects_path.c_str(), "w"));
    if (!rejects_file) return Fail(kExitUsage, "--rejects " + flags.rejects_path + ": cannot open for writing");
    rejects = rejects_file.get();
  }

  Monitoring monitoring;
  if (const arrow::Status served = monitoring.Serve(flags.metrics_listen, "produce"); !served.ok()) {
    return Fail(kExitUsage, served.message());
  }
  auto defaults = produce::ReplayProducerDefaults();
  // librdkafka's statistics feed the rtt and queue gauges; nobody reads them without the port.
  if (monitoring.server) defaults.emplace_back("statistics.interval.ms", "1000");
  auto conf = kafka::MakeConf(flags.kafka, defaults);
  if (!conf.ok()) return Fail(kExitUsage, conf.status().message());
  const arrow::Status reachable = kafka::CheckConnection(flags.kafka);
  if (!reachable.ok()) return Fail(kExitUsage, reachable.message());
  auto created = kafka::EnsureTopic(flags.kafka, {flags.kafka.topic, flags.partitions, flags.replication_factor});
  if (!created.ok()) return Fail(kExitFailed, created.status().message());
  if (*created) {
    Log(LogLevel::kInfo, "produce",
        "created topic " + flags.kafka.topic + " with " + std::to_string(flags.partitions) + " partitions",
        {{"topic", flags.kafka.topic}, {"partitions", flags.partitions}});
  }

  produce::ReplayOptions options;
  options.topic = flags.kafka.topic;
  options.pacing.rate = flags.rate;
  options.pacing.speed = flags.speed;
  options.limit = flags.limit;
  options.strict = flags.strict;
  // A live line is for people: a log shipper gets the periodic lines, each one JSON object.
  options.progress_line = !JsonLogs() && (flags.progress || (!flags.no_progress && isatty(fileno(stderr))));
  auto summary = produce::Replay(source->get(), std::move(*conf), options, stop, rejects, stderr,
                                 {monitoring.server ? &monitoring.registry : nullptr, &monitoring.readiness});
  if (!summary.ok()) return Fail(kExitUsage, summary.status().message());  // the producer could not start
  if (rejects_file) std::fflush(rejects_file.get());

  if (!summary->input_error.empty()) LogCommandError("produce", summary->input_error);
  Log(LogLevel::kInfo, "produce", produce::FormatSummary(*summary), SummaryFields(*summary));
  if (summary->stopped_by_strict) Log(LogLevel::kError, "produce", "stopped at the first bad row (--strict)");
  if (summary->failed > 0) {
    Log(LogLevel::kError, "produce",
        std::to_string(summary->failed) + " events were not delivered" +
            (summary->first_failure.empty() ? "" : " (first error: " + summary->first_failure + ")"),
        {{"failed", summary->failed}, {"first_error", summary->first_failure}});
  }
  return ExitCodeFor(*summary);
}

}  // namespace

Command AddProduceCommand(CLI::App& root) {
  auto flags = std::make_shared<ProduceFlags>();
  Command command;
  CLI::App* app = root.add_subcommand("produce", "Replay a clickstream CSV into a Kafka topic at a controlled rate");
  app->add_option("-i,--input", flags->input, "CSV file to replay, or - for standard input")->required();
  AddKafkaFlags(app, &flags->kafka);
  app->add_option("--rate", flags->rate, "Events per second; 0 sends as fast as possible")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--speed", flags->speed,
                  "Replay the original gaps between events divided by this factor (instead of --rate)")
      ->check(CLI::PositiveNumber);
  app->add_option("--limit", flags->limit, "Stop after this many events")->check(CLI::NonNegativeNumber);
  app->add_option("--partitions", flags->partitions, "Partitions when the topic has to be created")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--replication-factor", flags->replication_factor,
                  "Replicas per partition when the topic has to be created (default: the cluster's "
                  "default.replication.factor)")
      ->check(CLI::PositiveNumber);
  app->add_option("--rejects", flags->rejects_path, "Where bad rows are reported as 'line N: reason' (default: stderr)");
  app->add_flag("--strict", flags->strict, "Stop at the first bad row with exit code 3");
  auto* progress = app->add_flag("--progress", flags->progress, "Show a live progress line (default: on a terminal)");
  app->add_flag("--no-progress", flags->no_progress, "Log a line every few seconds instead of a live line")
      ->excludes(progress);
  AddMetricsListenFlag(app, &flags->metrics_listen);
  command.app = app;
  command.run = [flags] { return RunProduce(*flags); };
  return command;
}

}  // namespace clickstream::cli
