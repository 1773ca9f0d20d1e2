// What `consume` exports (README, "Monitoring"): the stats it counts anyway, copied into the
// registry by the consumer's thread a few times a second, plus what only the registry keeps (the
// histograms, the per-partition lag, librdkafka's statistics). Lag is the partition's high
// watermark minus the offset the destination says it has landed, never the group's offset.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "consume/consume_stats.h"
#include "kafka/client_statistics.h"
#include "metrics/registry.h"

namespace clickstream::consume {

class ConsumeMetrics {
 public:
  // `sink`: parquet, delta or postgres.
  ConsumeMetrics(metrics::Registry* registry, const std::string& topic, const std::string& sink);

  // Adds what `stats` counted since the last call.
  void Publish(const ConsumeStats& stats);
  void CountDeadLetter(std::string_view reason_code);
  void ObserveRound(double seconds) const { round_seconds_.Observe(seconds); }
  void ObserveLatencies(const std::vector<double>& bucket_counts, double sum) const;
  const std::vector<double>& latency_bounds() const { return latency_bounds_; }
  void SetLandingFailing(bool failing) const { landing_failing_.Set(failing ? 1 : 0); }
  void SetLandedNow(double unix_seconds) const { last_landed_.Set(unix_seconds); }

  // `landed`: the offset after the last event the destination holds of the partition.
  void PublishPartition(int32_t partition, int64_t high_watermark, int64_t landed);
  // Removes the partition's series: another member reports it now.
  void ForgetPartition(int32_t partition);

  void PublishStatistics(const kafka::ClientStatistics& statistics);

  // The dead-letter reasons, each exported from the start at 0: increase() needs a first sample.
  static const std::vector<std::string_view>& DeadLetterReasons();

 private:
  struct PartitionSeries {
    metrics::Gauge high_watermark;
    metrics::Gauge landed;
    metrics::Gauge lag;
    metrics::Gauge fetch_queue_messages;
    metrics::Gauge fetch_queue_bytes;
  };
  PartitionSeries& SeriesOf(int32_t partition);

  std::string topic_;
  ConsumeStats published_;
  metrics::Counter messages_;
  metrics::Counter events_;
  metrics::Counter batches_;
  metrics::Counter rounds_;
  metrics::Counter files_;
  metrics::Counter bytes_;
  metrics::Counter retries_;
  metrics::Counter fenced_;
  metrics::Counter rebalances_;
  metrics::Gauge assigned_;
  metrics::Gauge landing_failing_;
  metrics::Gauge last_landed_;
  metrics::Gauge rtt_;
  metrics::Histogram round_seconds_;
  std::vector<double> latency_bounds_;
  metrics::Histogram latency_;
  std::map<std::string, metrics::Counter, std::less<>> dead_letters_;
  metrics::GaugeFamily high_watermark_family_;
  metrics::GaugeFamily landed_family_;
  metrics::GaugeFamily lag_family_;
  metrics::GaugeFamily fetch_queue_messages_family_;
  metrics::GaugeFamily fetch_queue_bytes_family_;
  std::map<int32_t, PartitionSeries> partitions_;
};

// The sink label of an output: postgres for postgresql://, else delta or parquet by the format.
std::string SinkLabel(const std::string& output, bool delta);

}  // namespace clickstream::consume
