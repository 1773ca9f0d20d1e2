// What `produce` exports (README, "Monitoring"): events sent, delivered and failed (by librdkafka's
// error name, a bounded set), what is in flight, and the paced rate against the target, copied
// into the registry by the replay's thread a few times a second. The replay counts these anyway;
// the registry only mirrors them, so a run without --metrics-listen pays nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>

#include "kafka/client_statistics.h"
#include "metrics/registry.h"

namespace clickstream::produce {

// The counts the replay keeps; the metrics follow them.
struct ProduceProgress {
  int64_t sent = 0;       // handed to the producer
  int64_t delivered = 0;  // acknowledged by the broker
  int64_t in_flight = 0;
};

class ProduceMetrics {
 public:
  using Clock = std::chrono::steady_clock;

  // `target_rate`: the events/s asked for; 0 when unpaced or paced by the original gaps (--speed).
  ProduceMetrics(metrics::Registry* registry, const std::string& topic, double target_rate);

  // Adds what `progress` counted since the last call, and the delivered rate over the last second.
  void Publish(const ProduceProgress& progress, Clock::time_point now);
  // `reason`: librdkafka's name for the error (e.g. _MSG_TIMED_OUT, MSG_SIZE_TOO_LARGE).
  void CountFailure(std::string_view reason, int64_t events = 1);
  void PublishStatistics(const kafka::ClientStatistics& statistics) const;

 private:
  struct Sample {
    Clock::time_point at;
    int64_t delivered;
  };
  metrics::Counter FailedCounter(std::string_view reason);
  double DeliveredRate(const ProduceProgress& progress, Clock::time_point now);

  metrics::Registry* registry_;
  std::string topic_;
  ProduceProgress published_;
  std::deque<Sample> recent_;  // the last second or so of Publish() calls
  metrics::Counter sent_;
  metrics::Counter delivered_;
  std::map<std::string, metrics::Counter, std::less<>> failed_;
  metrics::Gauge in_flight_;
  metrics::Gauge rate_;
  metrics::Gauge rtt_;
  metrics::Gauge queue_messages_;
  metrics::Gauge queue_bytes_;
};

}  // namespace clickstream::produce
