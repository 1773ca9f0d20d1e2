// The replay loop: rows from the CSV source, paced, encoded as JSON and produced to Kafka keyed by
// visitor_id; rejects reported; delivery confirmed before the summary.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <arrow/result.h>

#include "common/stop_signal.h"
#include "kafka/config.h"
#include "kafka/producer.h"
#include "metrics/readiness.h"
#include "metrics/registry.h"
#include "produce/pacer.h"
#include "source/event_source.h"

namespace clickstream::produce {

struct ReplayOptions {
  std::string topic;
  PacingOptions pacing;
  int64_t limit = -1;  // events to send; negative: all
  bool strict = false;
  bool progress_line = false;  // a live line (terminals); otherwise a log line every log_interval
  std::chrono::milliseconds log_interval{5000};
  // After SIGINT/SIGTERM, how long in-flight messages may still take.
  std::chrono::milliseconds shutdown_flush{10000};
};

struct ReplaySummary {
  int64_t read = 0;       // data rows read (good and bad)
  int64_t sent = 0;       // handed to the producer
  int64_t delivered = 0;  // acknowledged by the broker
  int64_t rejected = 0;   // bad rows, not sent
  int64_t failed = 0;     // sent but not delivered (error report, or still unconfirmed at exit)
  double elapsed_seconds = 0;
  bool stopped_by_strict = false;
  int signal_number = 0;  // non-zero: stopped by this signal
  std::string first_failure;  // the first delivery or produce error, for the message
  std::string input_error;    // reading the input failed part-way (what was sent is still flushed)
};

// Where the replay reports while it runs (README, "Monitoring"); both optional.
struct ReplayObservers {
  metrics::Registry* registry = nullptr;
  metrics::Readiness* readiness = nullptr;
};

// librdkafka settings for the replay, applied before the user's -X: exactly-once delivery into the
// log (idempotence, acks=all) and batching tuned by `make bench`.
std::vector<std::pair<std::string, std::string>> ReplayProducerDefaults();

// Runs the replay until the input ends, --limit is reached, --strict meets a bad row or a stop
// signal arrives. Rejects go to `rejects` as "line N: reason"; progress and the log go to `log`.
// The producer is built from `conf` (MakeConf with ReplayProducerDefaults and the user's -X).
arrow::Result<ReplaySummary> Replay(source::EventSource* source, kafka::ConfPtr conf,
                                    const ReplayOptions& options, const StopSignal& stop, std::FILE* rejects,
                                    std::FILE* log, ReplayObservers observers = {});

// "read 10 rows: sent 9, delivered 9, rejected 1, failed 0 in 1.20 s (8 events/s)"
std::string FormatSummary(const ReplaySummary& summary);

}  // namespace clickstream::produce
