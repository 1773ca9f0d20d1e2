#include "produce/produce_metrics.h"

namespace clickstream::produce {

namespace {

constexpr std::chrono::seconds kRateWindow{1};

}  // namespace

ProduceMetrics::ProduceMetrics(metrics::Registry* registry, const std::string& topic, double target_rate)
    : registry_(registry), topic_(topic) {
  const metrics::Labels by_topic{{"topic", topic}};
  sent_ = registry->AddCounter("clickstream_produce_events_sent_total", "Events handed to the Kafka producer.",
                               by_topic);
  delivered_ = registry->AddCounter("clickstream_produce_events_delivered_total",
                                    "Events the brokers acknowledged (acks=all).", by_topic);
  in_flight_ = registry->AddGauge("clickstream_produce_in_flight",
                                  "Events sent and not yet acknowledged or failed.", by_topic);
  registry->AddGauge("clickstream_produce_target_rate",
                     "The events/s asked for (--rate); 0 when unpaced or replaying the original gaps (--speed).",
                     by_topic)
      .Set(target_rate);
  rate_ = registry->AddGauge("clickstream_produce_rate", "Events/s acknowledged over the last second.", by_topic);
  rtt_ = registry->AddGauge("clickstream_kafka_rtt_seconds",
                            "The slowest broker's average round-trip time over librdkafka's last statistics interval.",
                            {});
  queue_messages_ = registry->AddGauge("clickstream_kafka_producer_queue_messages",
                                       "Messages waiting in librdkafka's producer queue.", {});
  queue_bytes_ = registry->AddGauge("clickstream_kafka_producer_queue_bytes",
                                    "Bytes of the messages waiting in librdkafka's producer queue.", {});
  // increase() needs a first sample: the usual failures are exported at 0 from the start.
  for (std::string_view reason : {"_MSG_TIMED_OUT", "MSG_SIZE_TOO_LARGE"}) FailedCounter(reason);
}

void ProduceMetrics::Publish(const ProduceProgress& progress, Clock::time_point now) {
  sent_.Add(static_cast<double>(progress.sent - published_.sent));
  delivered_.Add(static_cast<double>(progress.delivered - published_.delivered));
  in_flight_.Set(static_cast<double>(progress.in_flight));
  rate_.Set(DeliveredRate(progress, now));
  published_ = progress;
}

double ProduceMetrics::DeliveredRate(const ProduceProgress& progress, Clock::time_point now) {
  recent_.push_back({now, progress.delivered});
  // The front stays the newest sample at least a window old, so the rate spans about one second.
  while (recent_.size() > 1 && now - recent_[1].at >= kRateWindow) recent_.pop_front();
  const Sample& oldest = recent_.front();
  const double seconds = std::chrono::duration<double>(now - oldest.at).count();
  return seconds > 0 ? static_cast<double>(progress.delivered - oldest.delivered) / seconds : 0;
}

void ProduceMetrics::CountFailure(std::string_view reason, int64_t events) {
  FailedCounter(reason).Add(static_cast<double>(events));
}

metrics::Counter ProduceMetrics::FailedCounter(std::string_view reason) {
  auto found = failed_.find(reason);
  if (found == failed_.end()) {
    const metrics::Counter counter =
        registry_->AddCounter("clickstream_produce_events_failed_total",
                              "Events that were not delivered, by librdkafka's error name.",
                              {{"topic", topic_}, {"reason", std::string(reason)}});
    found = failed_.emplace(std::string(reason), counter).first;
  }
  return found->second;
}

void ProduceMetrics::PublishStatistics(const kafka::ClientStatistics& statistics) const {
  if (statistics.max_rtt_seconds >= 0) rtt_.Set(statistics.max_rtt_seconds);
  queue_messages_.Set(static_cast<double>(statistics.queued_messages));
  queue_bytes_.Set(static_cast<double>(statistics.queued_bytes));
}

}  // namespace clickstream::produce
