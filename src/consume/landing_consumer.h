// `clickstream consume`: reads the topic as a member of a consumer group and lands every event
// exactly once through a sink (see README, "How exactly-once works").
//
// The sink, not the group's committed offsets, decides where each assigned partition resumes.
// Offsets are committed to Kafka after each durable round so that lag tools work, never before.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include <arrow/result.h>

#include "event/landed_schema.h"
#include "kafka/config.h"
#include "metrics/readiness.h"
#include "metrics/registry.h"
#include "sink/open_sink.h"

namespace clickstream::consume {

inline constexpr char kDefaultGroup[] = "clickstream-parquet";

struct ConsumeOptions {
  kafka::KafkaOptions kafka;
  std::string group = kDefaultGroup;
  std::string output;  // a directory, s3://bucket/prefix or postgresql://…
  std::string table;   // postgresql:// only (empty: clickstream_events)
  sink::TableFormat format = sink::TableFormat::kParquetDataset;  // for a directory
  int64_t delta_checkpoint_interval = 10;
  int64_t batch_size = 500;
  int64_t flush_interval_ms = 5000;
  std::string offset_reset = "earliest";  // for partitions with no landed files and no committed offset
  std::string dlq_topic;                  // empty: "<topic>.dlq"
  DateColumn date_column = DateColumn::kInPath;
  int64_t exit_when_idle_ms = 0;  // 0: run until signalled
  int64_t max_message_bytes = 1 << 20;
  int64_t write_retry_ms = 30000;  // how long a failing write is retried before giving up
  int64_t stats_interval_ms = 5000;
  // librdkafka's statistics.interval.ms, for the metrics; 0: none.
  int64_t kafka_statistics_interval_ms = 0;
};

// Where consume reports beyond its log lines: its series go into `registry` and its state into
// `readiness` (both outlive the run). Null: kept to itself.
struct ConsumeObservers {
  metrics::Registry* registry = nullptr;
  metrics::Readiness* readiness = nullptr;
};

struct ConsumeSummary {
  int64_t events = 0;
  int64_t dead_letters = 0;
  int64_t files = 0;
  double seconds = 0;
};

// Runs until `stop` becomes true or the consumer was idle for exit_when_idle_ms, then lands what
// is buffered, commits and leaves the group. An error means some events were not landed; their
// offsets were not committed and no file claims them, so a restart picks them up.
// Start-up problems (an unusable destination, then an unreachable or refusing Kafka cluster) are
// Invalid statuses with one line naming the cause.
arrow::Result<ConsumeSummary> RunConsume(const ConsumeOptions& options, const std::atomic<bool>& stop,
                                         ConsumeObservers observers = {});

}  // namespace clickstream::consume
