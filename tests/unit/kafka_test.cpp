#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "kafka/config.h"
#include "kafka/connection_check.h"
#include "kafka/consumer.h"
#include "kafka/error_log.h"
#include "kafka/fetch_refill.h"
#include "kafka/handle.h"  // white-box: reads the built configuration back through librdkafka
#include "kafka/producer.h"
#include "result_assertions.h"

namespace clickstream::kafka {
namespace {

std::string ConfValue(rd_kafka_conf_t* conf, const char* key) {
  char value[512];
  size_t size = sizeof(value);
  if (rd_kafka_conf_get(conf, key, value, &size) != RD_KAFKA_CONF_OK) return "<unset>";
  return value;
}

std::string WriteTempFile(const std::string& name, const std::string& text) {
  // Per process: other build trees may run the same test at the same time.
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / (std::to_string(getpid()) + "_" + name);
  std::ofstream(path) << text;
  return path.string();
}

TEST(ParseProperties, ReadsKcatStyleFiles) {
  struct Case {
    std::string text;
    std::vector<Property> expected;
  };
  const std::vector<Case> cases = {
      {"", {}},
      {"# a comment\n\n   \n", {}},
      {"security.protocol=SASL_SSL\n", {{"security.protocol", "SASL_SSL"}}},
      {"  sasl.username = alice  \r\n#sasl.password=old\nsasl.password=p=w#rd", {{"sasl.username", "alice"},
                                                                               {"sasl.password", "p=w#rd"}}},
      {"empty.value=\n", {{"empty.value", ""}}},
  };
  for (const Case& c : cases) {
    ASSERT_OK_AND_ASSIGN(auto properties, ParseProperties(c.text, "test"));
    EXPECT_EQ(properties, c.expected) << c.text;
  }
}

TEST(ParseProperties, NamesTheBadLineButNotItsContent) {
  const auto result = ParseProperties("a=1\n# fine\nhunter2\n", "-F client.properties");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(), "-F client.properties line 3: expected key=value");
  EXPECT_FALSE(ParseProperties("=value\n", "f").ok());
}

TEST(IsSecretProperty, CoversPasswordsSecretsAndCredentials) {
  for (const char* key : {"sasl.password", "ssl.key.password", "ssl.keystore.password", "SASL.PASSWORD",
                          "sasl.oauthbearer.client.secret", "sasl.jaas.config", "my.secret.token", "ssl.key.pem",
                          "sasl.oauthbearer.config"}) {
    EXPECT_TRUE(IsSecretProperty(key)) << key;
  }
  for (const char* key : {"sasl.username", "security.protocol", "ssl.ca.location", "bootstrap.servers", "linger.ms"}) {
    EXPECT_FALSE(IsSecretProperty(key)) << key;
  }
}

TEST(MakeConf, AppliesDefaultsThenTheFileThenDashX) {
  KafkaOptions options;
  options.bootstrap_servers = "127.0.0.1:1";
  options.properties_file = WriteTempFile("clickstream_kafka_test.properties",
                                          "# cluster settings\nclient.id=from-file\nlinger.ms=7\n");
  options.properties = {"linger.ms=9"};
  ASSERT_OK_AND_ASSIGN(ConfPtr conf, MakeConf(options, {{"client.id", "default"}, {"acks", "all"}}));
  EXPECT_EQ(ConfValue(conf.get(), "bootstrap.servers"), "127.0.0.1:1");
  EXPECT_EQ(ConfValue(conf.get(), "acks"), "-1");
  EXPECT_EQ(ConfValue(conf.get(), "client.id"), "from-file");
  EXPECT_EQ(ConfValue(conf.get(), "linger.ms"), "9");
  std::remove(options.properties_file.c_str());
}

TEST(MakeConf, TheFilesBootstrapServersYieldOnlyToAnExplicitDashB) {
  KafkaOptions options;
  options.properties_file = WriteTempFile("clickstream_kafka_test_bootstrap.properties",
                                          "bootstrap.servers=from-file:9092\n");
  ASSERT_OK_AND_ASSIGN(ConfPtr from_file, MakeConf(options, {}));
  EXPECT_EQ(ConfiguredBootstrapServers(from_file.get()), "from-file:9092");
  options.bootstrap_servers = "from-flag:9092";
  ASSERT_OK_AND_ASSIGN(ConfPtr from_flag, MakeConf(options, {}));
  EXPECT_EQ(ConfiguredBootstrapServers(from_flag.get()), "from-flag:9092");
  std::remove(options.properties_file.c_str());
}

TEST(MakeConf, NeverEchoesSecretValues) {
  KafkaOptions options;
  options.properties = {"my.secret.token=hunter2"};
  auto result = MakeConf(options, {});
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("my.secret.token"), std::string::npos);
  EXPECT_EQ(result.status().message().find("hunter2"), std::string::npos) << result.status().message();

  options.properties = {"=hunter2"};
  result = MakeConf(options, {});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message().find("hunter2"), std::string::npos) << result.status().message();

  options.properties = {};
  options.properties_file = WriteTempFile("clickstream_kafka_test_bad.properties", "sasl.password hunter2\n");
  result = MakeConf(options, {});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message().find("hunter2"), std::string::npos) << result.status().message();
  std::remove(options.properties_file.c_str());
}

TEST(MakeConf, AMissingPropertiesFileIsAUsageError) {
  KafkaOptions options;
  options.properties_file = "/nonexistent/client.properties";
  const auto result = MakeConf(options, {});
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(result.status().IsInvalid());
  EXPECT_NE(result.status().message().find("/nonexistent/client.properties"), std::string::npos);
}

TEST(CheckConnection, AnUnreachableAddressFailsAtTheDeadlineNamingTheCause) {
  KafkaOptions options;
  options.bootstrap_servers = "127.0.0.1:1";  // nothing listens on port 1
  const auto started = std::chrono::steady_clock::now();
  const arrow::Status status = CheckConnection(options, std::chrono::milliseconds(1500));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(status.IsIOError()) << status.ToString();
  EXPECT_NE(status.message().find("cannot use Kafka at 127.0.0.1:1: no broker answered"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("Connection refused"), std::string::npos) << status.message();
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

// A producer whose broker never answers (nothing listens on port 1), with room for ten messages.
std::unique_ptr<Producer> ProducerWithRoomForTen(std::vector<std::string> more_properties = {}) {
  KafkaOptions options;
  options.bootstrap_servers = "127.0.0.1:1";
  options.properties = {"log_level=0", "queue.buffering.max.messages=10", "message.max.bytes=1000"};
  for (std::string& property : more_properties) options.properties.push_back(std::move(property));
  auto conf = MakeConf(options, {});
  EXPECT_TRUE(conf.ok()) << conf.status().ToString();
  auto producer = Producer::Make(std::move(*conf));
  EXPECT_TRUE(producer.ok()) << producer.status().ToString();
  return std::move(*producer);
}

TEST(ProduceBatch, CountsWhatFitBeforeAFullQueueAndStopsWhenAsked) {
  std::unique_ptr<Producer> producer = ProducerWithRoomForTen();
  const std::string oversized(2000, 'x');
  std::vector<KeyedValue> messages(25, KeyedValue{"key", "value"});
  messages[3].value = oversized;  // refused on its own, the others still go
  const std::atomic<bool> stop{true};
  BatchOutcome outcome;
  const arrow::Status status = producer->ProduceBatch("batch-test", messages, &outcome, &stop);
  EXPECT_TRUE(status.IsCancelled()) << status.ToString();
  EXPECT_EQ(outcome.enqueued, 10);
  EXPECT_EQ(outcome.failed, 1);
  EXPECT_NE(outcome.first_error.find("too large"), std::string::npos) << outcome.first_error;
  EXPECT_EQ(producer->counts().produced, 10);
}

TEST(ProduceBatch, WaitsForRoomAndResumesWhereTheQueueFilled) {
  // Undeliverable messages time out quickly, which makes room for the rest of the batch.
  std::unique_ptr<Producer> producer = ProducerWithRoomForTen({"message.timeout.ms=100"});
  std::vector<KeyedValue> messages(25, KeyedValue{"key", "value"});
  BatchOutcome outcome;
  const arrow::Status status = producer->ProduceBatch("batch-test", messages, &outcome);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(outcome.enqueued, 25);
  EXPECT_EQ(outcome.failed, 0);
  ASSERT_TRUE(producer->Flush(std::chrono::seconds(30)).ok());
  EXPECT_EQ(producer->counts().produced, 25);
  EXPECT_EQ(producer->counts().failed, 25);
}

TEST(FetchRefillPathFor, TheWakerUpTo2_2_0AndFetchQueueBackoffFromIt) {
  // rd_kafka_version()'s encoding: 0xMMmmrrpp, pp 0xff for a release.
  EXPECT_EQ(FetchRefillPathFor(0x020002ff), FetchRefillPath::kWaker);  // 2.0.2, Debian's
  EXPECT_EQ(FetchRefillPathFor(0x020101ff), FetchRefillPath::kWaker);  // 2.1.1, the last before
  EXPECT_EQ(FetchRefillPathFor(0x020200fe), FetchRefillPath::kWaker);  // a 2.2.0 pre-release
  EXPECT_EQ(FetchRefillPathFor(0x020200ff), FetchRefillPath::kQueueBackoff);  // 2.2.0
  EXPECT_EQ(FetchRefillPathFor(0x020300ff), FetchRefillPath::kQueueBackoff);
  EXPECT_EQ(FetchRefillPathFor(0x030000ff), FetchRefillPath::kQueueBackoff);
}

TEST(MakeConsumerConf, SetsFetchQueueBackoffOnlyWhereTheRunningLibrdkafkaHasItAndDashXWins) {
  KafkaOptions options;
  ASSERT_OK_AND_ASSIGN(ConfPtr conf, MakeConsumerConf(options, {{"group.id", "g"}}));
  EXPECT_EQ(ConfValue(conf.get(), "group.id"), "g");
  if (RunningFetchRefillPath() == FetchRefillPath::kWaker) {
    // Setting it would fail: this librdkafka does not know the property.
    EXPECT_EQ(ConfValue(conf.get(), "fetch.queue.backoff.ms"), "<unset>");
    return;
  }
  EXPECT_EQ(ConfValue(conf.get(), "fetch.queue.backoff.ms"), "1");
  options.properties = {"fetch.queue.backoff.ms=50"};
  ASSERT_OK_AND_ASSIGN(ConfPtr chosen, MakeConsumerConf(options, {}));
  EXPECT_EQ(ConfValue(chosen.get(), "fetch.queue.backoff.ms"), "50");
}

TEST(ErrorLogLimiter, OneLinePerCodePerIntervalCountingTheHeldBack) {
  ErrorLogLimiter limiter(std::chrono::seconds(10));
  const ErrorLogLimiter::Clock::time_point start{};
  const auto at = [&](int seconds) { return start + std::chrono::seconds(seconds); };
  constexpr int kTransport = -195;
  constexpr int kAllBrokersDown = -187;
  EXPECT_EQ(limiter.Admit(kTransport, at(0)), std::optional<int64_t>(0));
  EXPECT_EQ(limiter.Admit(kTransport, at(1)), std::nullopt);
  // Another code has its own interval.
  EXPECT_EQ(limiter.Admit(kAllBrokersDown, at(2)), std::optional<int64_t>(0));
  EXPECT_EQ(limiter.Admit(kTransport, at(5)), std::nullopt);
  EXPECT_EQ(limiter.Admit(kTransport, at(9)), std::nullopt);
  // Ten seconds after its last line: a line again, saying three were held back.
  EXPECT_EQ(limiter.Admit(kTransport, at(10)), std::optional<int64_t>(3));
  EXPECT_EQ(limiter.Admit(kTransport, at(19)), std::nullopt);
  EXPECT_EQ(limiter.Admit(kAllBrokersDown, at(12)), std::optional<int64_t>(0));
  // A code quiet for long gets its line at once, with nothing held back since the last.
  EXPECT_EQ(limiter.Admit(kAllBrokersDown, at(100)), std::optional<int64_t>(0));
  EXPECT_EQ(limiter.Admit(kTransport, at(100)), std::optional<int64_t>(1));
}

// The fetch wake-up's decision, as a sequence of queue samples: (messages, bytes, ms since start)
// and whether that sample wakes the fetcher.
struct QueueSample {
  int64_t messages;
  int64_t bytes;
  int64_t at_ms;
  bool wakes;
};

void ExpectWakeUps(const std::vector<QueueSample>& samples, const std::string& story) {
  // The defaults: queued.min.messages 100000, queued.max.messages.kbytes 16384.
  FetchRefillPolicy policy(FetchLimits{100'000, 16'384 * 1024}, std::chrono::milliseconds(20));
  const FetchRefillPolicy::Clock::time_point start{};
  for (size_t i = 0; i < samples.size(); ++i) {
    const QueueSample& sample = samples[i];
    EXPECT_EQ(policy.ShouldWake(sample.messages, sample.bytes, start + std::chrono::milliseconds(sample.at_ms)),
              sample.wakes)
        << story << ", sample " << i;
  }
}

TEST(FetchRefillPolicy, WakesOnceAFullQueueHasDrainedToHalf) {
  ExpectWakeUps({{160'000, 1'000'000, 0, false},
                 {90'000, 1'000'000, 10, false},
                 {50'000, 1'000'000, 20, false},
                 {49'999, 1'000'000, 30, true},
                 {10'000, 1'000'000, 40, false},
                 {0, 0, 50, false}},
                "full by messages");
}

TEST(FetchRefillPolicy, TheBytesLimitCountsLikeTheMessageLimit) {
  const int64_t limit = 16'384 * 1024;
  ExpectWakeUps({{20'000, limit, 0, false},
                 // Few messages but still over half the bytes: librdkafka would not fetch yet.
                 {20'000, limit / 2, 10, false},
                 {20'000, limit / 2 - 1, 20, true}},
                "full by bytes");
  ExpectWakeUps({{160'000, 1'000, 0, false}, {40'000, limit * 3 / 4, 10, false}, {40'000, limit / 4, 20, true}},
                "drained by messages, not yet by bytes");
}

TEST(FetchRefillPolicy, NeverWakesAQueueThatWasNotFull) {
  // A member at the end of the topic: the fetcher is waiting on the broker, not asleep.
  ExpectWakeUps({{0, 0, 0, false}, {10, 2'000, 100, false}, {0, 0, 200, false}, {89'000, 1'000, 300, false},
                 {0, 0, 400, false}},
                "idle and partly filled queues");
}

TEST(FetchRefillPolicy, WakeUpsAreRateLimitedAndNeedTheQueueToFillAgain) {
  ExpectWakeUps({{150'000, 0, 0, false},
                 {1'000, 0, 5, true},
                 // Refilled and drained within 20 ms of the last wake-up: it waits, armed.
                 {150'000, 0, 10, false},
                 {1'000, 0, 15, false},
                 {1'000, 0, 24, false},
                 {1'000, 0, 25, true},
                 // Drained again, but not refilled since: nothing to wake.
                 {0, 0, 100, false},
                 {1'000, 0, 200, false}},
                "rate limit");
}

TEST(FetchRefillPolicy, UnknownLimitsNeverWake) {
  FetchRefillPolicy policy(FetchLimits{0, 0}, std::chrono::milliseconds(0));
  const FetchRefillPolicy::Clock::time_point start{};
  EXPECT_FALSE(policy.ShouldWake(1'000'000, 1'000'000'000, start));
  EXPECT_FALSE(policy.ShouldWake(0, 0, start + std::chrono::seconds(1)));
}

}  // namespace
}  // namespace clickstream::kafka
