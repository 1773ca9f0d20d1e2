// The metrics registry and its exposition, the status port, the end-to-end latency tracker and the
// librdkafka statistics reader.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "consume/consume_metrics.h"
#include "consume/ingest_latency.h"
#include "event/json_codec.h"
#include "http/status_server.h"
#include "kafka/client_statistics.h"
#include "metrics/readiness.h"
#include "metrics/registry.h"

namespace clickstream {
namespace {

// One HTTP/1.0 GET on loopback; the whole response, headers included.
std::string Get(const std::string& address, const std::string& path) {
  const size_t colon = address.rfind(':');
  sockaddr_in where{};
  where.sin_family = AF_INET;
  where.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &where.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&where), sizeof(where)) != 0) {
    close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\n\r\n";
  (void)!write(fd, request.data(), request.size());
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, static_cast<size_t>(n));
  close(fd);
  return response;
}

TEST(Metrics, CountersGaugesAndHistogramsAppearInTheExposition) {
  metrics::Registry registry;
  registry.AddCounter("clickstream_test_events_total", "Events.", {{"topic", "t"}}).Add(3);
  registry.AddCounter("clickstream_test_events_total", "Events.", {{"topic", "t"}}).Add(2);  // the same series
  registry.AddGauge("clickstream_test_lag_messages", "Lag.", {{"partition", "0"}}).Set(7);
  registry.AddHistogram("clickstream_test_round_seconds", "Rounds.", {}, {0.1, 1}).ObserveMany({1, 2, 0}, 1.5);
  const std::string text = registry.Exposition();
  EXPECT_NE(text.find("clickstream_test_events_total{topic=\"t\"} 5"), std::string::npos) << text;
  EXPECT_NE(text.find("clickstream_test_lag_messages{partition=\"0\"} 7"), std::string::npos) << text;
  EXPECT_NE(text.find("clickstream_test_round_seconds_bucket{le=\"1\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("clickstream_test_round_seconds_count 3"), std::string::npos) << text;
}

TEST(Metrics, ARevokedPartitionLeavesTheExposition) {
  metrics::Registry registry;
  consume::ConsumeMetrics consume(&registry, "clicks", "parquet");
  consume.PublishPartition(4, 100, 60);
  EXPECT_NE(registry.Exposition().find("clickstream_consume_lag_messages{partition=\"4\",topic=\"clicks\"} 40"),
            std::string::npos);
  consume.ForgetPartition(4);
  EXPECT_EQ(registry.Exposition().find("partition=\"4\""), std::string::npos);
  // Every dead-letter reason is there from the start, at 0.
  EXPECT_NE(registry.Exposition().find("clickstream_consume_dead_letters_total{reason=\"oversized\",topic=\"clicks\"} 0"),
            std::string::npos);
}

TEST(Metrics, TheStatusPortServesMetricsHealthAndReadiness) {
  metrics::Registry registry;
  metrics::Readiness readiness;
  registry.AddGauge("clickstream_test_up", "Up.", {}).Set(1);
  auto server = http::StatusServer::Start("127.0.0.1:0", &registry, &readiness);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string address = (*server)->address();
  EXPECT_NE(Get(address, "/metrics").find("clickstream_test_up 1"), std::string::npos);
  EXPECT_NE(Get(address, "/health").find("200 OK"), std::string::npos);
  const std::string not_ready = Get(address, "/ready");
  EXPECT_NE(not_ready.find(" 503 "), std::string::npos) << not_ready;
  EXPECT_NE(not_ready.find("not ready: starting"), std::string::npos) << not_ready;
  readiness.SetReady();
  EXPECT_NE(Get(address, "/ready").find("200 OK"), std::string::npos);
  EXPECT_NE(Get(address, "/other").find(" 404 "), std::string::npos);
  // The port is taken now: a second server says so instead of starting.
  auto second = http::StatusServer::Start(address, &registry, &readiness);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsInvalid());
}

// civetweb's listening thread polls for up to 2 s between looks at its stop flag: stopping must
// not wait for that poll to time out.
TEST(Metrics, TheStatusServerStopsAtOnce) {
  metrics::Registry registry;
  metrics::Readiness readiness;
  for (int i = 0; i < 3; ++i) {
    auto server = http::StatusServer::Start("127.0.0.1:0", &registry, &readiness);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    EXPECT_NE(Get((*server)->address(), "/health").find("200 OK"), std::string::npos);
    const auto started = std::chrono::steady_clock::now();
    server->reset();
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(500));
  }
}

TEST(Metrics, ListenAddressesAreHostAndPort) {
  EXPECT_EQ(http::ParseListenAddress("127.0.0.1:9464")->port, 9464);
  EXPECT_EQ(http::ParseListenAddress("[::1]:0")->host, "[::1]");
  EXPECT_FALSE(http::ParseListenAddress("9464").ok());
  EXPECT_FALSE(http::ParseListenAddress("host:").ok());
  EXPECT_FALSE(http::ParseListenAddress("host:70000").ok());
  EXPECT_FALSE(http::ParseListenAddress("[::1:80").ok());
}

TEST(IngestLatency, CountsEachEventOnceWhenItsBatchIsDurable) {
  consume::IngestLatency latency({1, 10});
  latency.Read(0, 0, 1'000);
  latency.Read(0, 1, 1'000);  // the same tick: one run
  latency.Read(0, 2, 5'000);
  EXPECT_EQ(latency.runs(), 2u);
  std::vector<double> counts;
  double sum = 0;
  latency.Durable(0, 2, 1'500, &counts, &sum);  // offsets 0 and 1, 0.5 s old
  EXPECT_EQ(counts, (std::vector<double>{2, 0, 0}));
  EXPECT_DOUBLE_EQ(sum, 1.0);
  latency.Durable(0, 3, 25'000, &counts, &sum);  // offset 2, 20 s old: past the last bound
  EXPECT_EQ(counts, (std::vector<double>{2, 0, 1}));
  EXPECT_EQ(latency.runs(), 0u);
}

TEST(IngestLatency, ARewindDropsWhatWasNotedFromThereOn) {
  consume::IngestLatency latency({1});
  latency.Read(1, 10, 0);
  latency.Read(1, 11, 100);
  latency.Read(1, 11, 200);  // re-read after a rewind
  EXPECT_EQ(latency.runs(), 2u);
  latency.Forget(1);
  EXPECT_EQ(latency.runs(), 0u);
}

TEST(ClientStatistics, ReadsTheSlowestBrokerAndThePartitionQueues) {
  const std::string json = R"({"msg_cnt": 5, "msg_size": 500,
    "brokers": {"bootstrap": {"nodeid": -1, "rtt": {"avg": 900000, "cnt": 3}},
                "b1": {"nodeid": 1, "rtt": {"avg": 2000, "cnt": 4}},
                "b2": {"nodeid": 2, "rtt": {"avg": 7000, "cnt": 1}},
                "b3": {"nodeid": 3, "rtt": {"avg": 0, "cnt": 0}}},
    "topics": {"clicks": {"partitions": {"0": {"fetchq_cnt": 12, "fetchq_size": 3400},
                                         "-1": {"fetchq_cnt": 99}}}}})";
  auto statistics = kafka::ParseClientStatistics(json, "clicks");
  ASSERT_TRUE(statistics.ok());
  EXPECT_DOUBLE_EQ(statistics->max_rtt_seconds, 0.007);
  EXPECT_EQ(statistics->queued_messages, 5);
  ASSERT_EQ(statistics->partitions.size(), 1u);
  EXPECT_EQ(statistics->partitions.at(0).messages, 12);
  EXPECT_EQ(statistics->partitions.at(0).bytes, 3400);
  EXPECT_FALSE(kafka::ParseClientStatistics("[1]", "clicks").ok());
}

TEST(DecodeFailure, EachRejectionNamesItsBoundedReason) {
  EventJsonDecoder decoder;
  Event event;
  const auto code = [&](std::string_view payload) {
    return std::string(DecodeFailureCode(DecodeFailureOf(decoder.Decode(payload, &event))));
  };
  EXPECT_EQ(code(""), "empty");
  EXPECT_EQ(code("\xff"), "not_utf8");
  EXPECT_EQ(code("{\"a\""), "invalid_json");
  EXPECT_EQ(code("[1]"), "not_an_object");
  EXPECT_EQ(code("{\"event_type\": \"click\"}"), "invalid_field");
}

}  // namespace
}  // namespace clickstream
