#include "consume/consume_metrics.h"

#include <chrono>

namespace clickstream::consume {

namespace {

// From 10 ms (a live event landing at once) to an hour (a replay, or a destination that was down).
std::vector<double> LatencyBounds() { return {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}; }

}  // namespace

ConsumeMetrics::ConsumeMetrics(metrics::Registry* registry, const std::string& topic, const std::string& sink)
    : topic_(topic), latency_bounds_(LatencyBounds()) {
  const metrics::Labels by_topic{{"topic", topic}};
  const metrics::Labels by_sink{{"topic", topic}, {"sink", sink}};
  messages_ = registry->AddCounter("clickstream_consume_messages_read_total",
                                   "Messages read from Kafka, valid or not.", by_topic);
  events_ = registry->AddCounter("clickstream_consume_events_landed_total",
                                 "Events made durable in the destination.", by_sink);
  batches_ = registry->AddCounter("clickstream_consume_batches_landed_total",
                                  "Partition batches made durable.", by_sink);
  rounds_ = registry->AddCounter("clickstream_consume_landing_rounds_total",
                                 "Landing rounds made durable (one Delta commit, one transaction, or one group of files).",
                                 by_sink);
  files_ = registry->AddCounter("clickstream_consume_files_landed_total", "Data files written.", by_sink);
  bytes_ = registry->AddCounter("clickstream_consume_bytes_written_total", "Bytes of data files written.", by_sink);
  retries_ = registry->AddCounter("clickstream_consume_write_retries_total",
                                  "Failed landing attempts that were retried.", by_sink);
  fenced_ = registry->AddCounter("clickstream_consume_fenced_rounds_total",
                                 "Landing rounds refused because another member owns a partition now.", by_sink);
  rebalances_ = registry->AddCounter("clickstream_consume_rebalances_total",
                                     "Assignments received from the consumer group.", by_topic);
  assigned_ = registry->AddGauge("clickstream_consume_assigned_partitions", "Partitions assigned to this member.",
                                 by_topic);
  landing_failing_ = registry->AddGauge("clickstream_consume_landing_failing",
                                        "1 while a landing round (or a dead-letter flush) is being retried.", by_sink);
  last_landed_ = registry->AddGauge("clickstream_consume_last_landed_timestamp_seconds",
                                    "Unix time of the last durable landing round (the start, before the first).",
                                    by_sink);
  last_landed_.Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  rtt_ = registry->AddGauge("clickstream_kafka_rtt_seconds",
                            "The slowest broker's average round-trip time over librdkafka's last statistics interval.",
                            {});
  round_seconds_ = registry->AddHistogram("clickstream_consume_landing_round_duration_seconds",
                                          "How long a landing round took to become durable, retries included.",
                                          by_sink, metrics::DurationBuckets());
  latency_ = registry->AddHistogram("clickstream_consume_event_latency_seconds",
                                    "From an event's Kafka timestamp to its being durable in the destination.",
                                    by_sink, latency_bounds_);
  for (std::string_view reason : DeadLetterReasons()) {
    dead_letters_.emplace(std::string(reason),
                          registry->AddCounter("clickstream_consume_dead_letters_total",
                                               "Messages sent to the dead-letter topic, by reason.",
                                               {{"topic", topic}, {"reason", std::string(reason)}}));
  }
  high_watermark_family_ = registry->AddGaugeFamily("clickstream_consume_high_watermark",
                                                    "The partition's high watermark as last fetched.");
  landed_family_ = registry->AddGaugeFamily(
      "clickstream_consume_landed_offset",
      "The offset after the last event the destination holds of the partition (Kafka's committed-offset convention).");
  lag_family_ = registry->AddGaugeFamily("clickstream_consume_lag_messages",
                                         "High watermark minus the destination's landed offset.");
  fetch_queue_messages_family_ = registry->AddGaugeFamily("clickstream_kafka_fetch_queue_messages",
                                                          "Messages fetched and waiting in librdkafka's queue.");
  fetch_queue_bytes_family_ = registry->AddGaugeFamily("clickstream_kafka_fetch_queue_bytes",
                                                       "Bytes fetched and waiting in librdkafka's queue.");
}

const std::vector<std::string_view>& ConsumeMetrics::DeadLetterReasons() {
  static const std::vector<std::string_view> reasons = {"oversized",    "null_value",    "empty",        "not_utf8",
                                                        "invalid_json", "not_an_object", "invalid_field"};
  return reasons;
}

void ConsumeMetrics::Publish(const ConsumeStats& stats) {
  messages_.Add(static_cast<double>(stats.messages - published_.messages));
  events_.Add(static_cast<double>(stats.events - published_.events));
  batches_.Add(static_cast<double>(stats.batches - published_.batches));
  rounds_.Add(static_cast<double>(stats.rounds - published_.rounds));
  files_.Add(static_cast<double>(stats.files - published_.files));
  bytes_.Add(static_cast<double>(stats.bytes - published_.bytes));
  retries_.Add(static_cast<double>(stats.write_retries - published_.write_retries));
  fenced_.Add(static_cast<double>(stats.fenced_rounds - published_.fenced_rounds));
  rebalances_.Add(static_cast<double>(stats.rebalances - published_.rebalances));
  assigned_.Set(stats.partitions);
  published_ = stats;
}

void ConsumeMetrics::CountDeadLetter(std::string_view reason_code) {
  const auto found = dead_letters_.find(reason_code);
  if (found != dead_letters_.end()) found->second.Add();
}

void ConsumeMetrics::ObserveLatencies(const std::vector<double>& bucket_counts, double sum) const {
  latency_.ObserveMany(bucket_counts, sum);
}

ConsumeMetrics::PartitionSeries& ConsumeMetrics::SeriesOf(int32_t partition) {
  auto found = partitions_.find(partition);
  if (found != partitions_.end()) return found->second;
  const metrics::Labels labels{{"topic", topic_}, {"partition", std::to_string(partition)}};
  PartitionSeries series{high_watermark_family_.Add(labels), landed_family_.Add(labels), lag_family_.Add(labels),
                         fetch_queue_messages_family_.Add(labels), fetch_queue_bytes_family_.Add(labels)};
  return partitions_.emplace(partition, series).first->second;
}

void ConsumeMetrics::PublishPartition(int32_t partition, int64_t high_watermark, int64_t landed) {
  PartitionSeries& series = SeriesOf(partition);
  series.high_watermark.Set(static_cast<double>(high_watermark));
  series.landed.Set(static_cast<double>(landed));
  series.lag.Set(static_cast<double>(std::max<int64_t>(0, high_watermark - landed)));
}

void ConsumeMetrics::ForgetPartition(int32_t partition) {
  const auto found = partitions_.find(partition);
  if (found == partitions_.end()) return;
  high_watermark_family_.Remove(found->second.high_watermark);
  landed_family_.Remove(found->second.landed);
  lag_family_.Remove(found->second.lag);
  fetch_queue_messages_family_.Remove(found->second.fetch_queue_messages);
  fetch_queue_bytes_family_.Remove(found->second.fetch_queue_bytes);
  partitions_.erase(found);
}

void ConsumeMetrics::PublishStatistics(const kafka::ClientStatistics& statistics) {
  if (statistics.max_rtt_seconds >= 0) rtt_.Set(statistics.max_rtt_seconds);
  for (const auto& [partition, queue] : statistics.partitions) {
    const auto found = partitions_.find(partition);
    if (found == partitions_.end()) continue;  // not (or no longer) assigned here
    found->second.fetch_queue_messages.Set(static_cast<double>(queue.messages));
    found->second.fetch_queue_bytes.Set(static_cast<double>(queue.bytes));
  }
}

std::string SinkLabel(const std::string& output, bool delta) {
  if (output.starts_with("postgresql://") || output.starts_with("postgres://")) return "postgres";
  return delta ? "delta" : "parquet";
}

}  // namespace clickstream::consume
