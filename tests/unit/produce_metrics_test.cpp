// What `produce` exports: counters that follow the replay's counts, failures by reason, and the
// delivered rate over the last second.
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "metrics/registry.h"
#include "produce/produce_metrics.h"

namespace clickstream::produce {
namespace {

using std::chrono::milliseconds;

bool Has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

TEST(ProduceMetrics, CountersFollowTheReplaysCounts) {
  metrics::Registry registry;
  ProduceMetrics metrics(&registry, "clicks", 250);
  const auto start = ProduceMetrics::Clock::now();
  metrics.Publish({100, 40, 60}, start);
  metrics.Publish({300, 250, 50}, start + milliseconds(250));
  const std::string text = registry.Exposition();
  EXPECT_TRUE(Has(text, "clickstream_produce_events_sent_total{topic=\"clicks\"} 300")) << text;
  EXPECT_TRUE(Has(text, "clickstream_produce_events_delivered_total{topic=\"clicks\"} 250")) << text;
  EXPECT_TRUE(Has(text, "clickstream_produce_in_flight{topic=\"clicks\"} 50")) << text;
  EXPECT_TRUE(Has(text, "clickstream_produce_target_rate{topic=\"clicks\"} 250")) << text;
}

TEST(ProduceMetrics, FailuresAreCountedByReasonAndTheUsualOnesStartAtZero) {
  metrics::Registry registry;
  ProduceMetrics metrics(&registry, "clicks", 0);
  EXPECT_TRUE(Has(registry.Exposition(),
                  "clickstream_produce_events_failed_total{reason=\"_MSG_TIMED_OUT\",topic=\"clicks\"} 0"));
  metrics.CountFailure("_MSG_TIMED_OUT");
  metrics.CountFailure("_MSG_TIMED_OUT", 4);
  metrics.CountFailure("UNKNOWN_TOPIC_OR_PART", 2);
  const std::string text = registry.Exposition();
  EXPECT_TRUE(Has(text, "clickstream_produce_events_failed_total{reason=\"_MSG_TIMED_OUT\",topic=\"clicks\"} 5"))
      << text;
  EXPECT_TRUE(
      Has(text, "clickstream_produce_events_failed_total{reason=\"UNKNOWN_TOPIC_OR_PART\",topic=\"clicks\"} 2"))
      << text;
  EXPECT_TRUE(Has(text, "clickstream_produce_events_failed_total{reason=\"MSG_SIZE_TOO_LARGE\",topic=\"clicks\"} 0"))
      << text;
}

TEST(ProduceMetrics, TheRateSpansAboutTheLastSecond) {
  metrics::Registry registry;
  ProduceMetrics metrics(&registry, "clicks", 0);
  const auto start = ProduceMetrics::Clock::now();
  // 1000 events/s for two seconds, then nothing for a second and a half.
  for (int tick = 0; tick <= 8; ++tick) metrics.Publish({tick * 250, tick * 250, 0}, start + milliseconds(250 * tick));
  EXPECT_TRUE(Has(registry.Exposition(), "clickstream_produce_rate{topic=\"clicks\"} 1000")) << registry.Exposition();
  for (int tick = 9; tick <= 14; ++tick) metrics.Publish({2000, 2000, 0}, start + milliseconds(250 * tick));
  EXPECT_TRUE(Has(registry.Exposition(), "clickstream_produce_rate{topic=\"clicks\"} 0")) << registry.Exposition();
}

}  // namespace
}  // namespace clickstream::produce
