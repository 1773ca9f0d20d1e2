// What the consumer counts, and the stats line it prints from those counts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/log.h"

namespace clickstream::consume {

struct ConsumeStats {
  int64_t messages = 0;      // consumed from Kafka, valid or not
  int64_t events = 0;        // landed as rows (durable)
  int64_t dead_letters = 0;  // sent to the dead-letter topic
  int64_t batches = 0;       // batches landed
  int64_t files = 0;         // Parquet files written (markers not counted)
  int64_t bytes = 0;         // Parquet bytes written
  int64_t rounds = 0;         // landing rounds made durable
  int64_t write_retries = 0;  // failed landing attempts that were retried
  int64_t fenced_rounds = 0;  // rounds refused because another member owns a partition now
  int64_t rebalances = 0;     // assignments received
  int64_t lag = -1;          // messages behind the high watermarks of the assigned partitions; -1: unknown
  int partitions = 0;        // currently assigned
};

// "consume: 45210 events/s, 123456 events, 250 batches, 300 files, 3 dead letters, lag 1234, 6 partitions"
std::string FormatStatsLine(const ConsumeStats& stats, double events_per_second);

// The same counts as the JSON log line's fields: rate, read, events, batches, files, bytes,
// dead_letters, lag (absent while unknown) and partitions.
std::vector<LogField> StatsFields(const ConsumeStats& stats, double events_per_second);

}  // namespace clickstream::consume
