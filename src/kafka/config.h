// Kafka connection settings shared by produce and consume, and the librdkafka configuration built
// from them. kcat-style: -b brokers, -t topic, -F properties file, -X key=value passed straight to
// librdkafka. The flags themselves are declared in cli/kafka_flags.h.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/result.h>

struct rd_kafka_conf_s;

namespace clickstream::kafka {

inline constexpr char kDefaultTopic[] = "clickstream-events";

struct KafkaOptions {
  std::string bootstrap_servers;       // empty: $KAFKA_BOOTSTRAP_SERVERS, else localhost:9092
  std::string topic = kDefaultTopic;
  std::string properties_file;          // -F: librdkafka properties, applied after our defaults
  std::vector<std::string> properties;  // -X "key=value", applied after the file so they win
};

using Property = std::pair<std::string, std::string>;

std::string ResolveBootstrapServers(const KafkaOptions& options);

// Properties-file text as kcat's -F reads it: one key=value per line, blank lines and lines starting
// with '#' ignored, blanks around key and value trimmed. A bad line fails naming `origin` and the
// line number, never the line itself (it may hold a password).
arrow::Result<std::vector<Property>> ParseProperties(std::string_view text, std::string_view origin);
arrow::Result<std::vector<Property>> ReadPropertiesFile(const std::string& path);

// True for properties whose values must never be printed: passwords, secrets, private keys and
// SASL/OAuth configurations that carry credentials.
bool IsSecretProperty(std::string_view key);

// An owned librdkafka configuration, opaque outside src/kafka/.
struct ConfDeleter {
  void operator()(rd_kafka_conf_s* conf) const;
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_s, ConfDeleter>;

// The librdkafka this process runs with (rd_kafka_version_str(), e.g. "2.0.2"): the shared library
// may be newer than the headers the binary was built against.
std::string_view LibrdkafkaVersion();

// Builds a configuration: bootstrap servers, then `defaults` (the module's own tuning), then the
// user's -F file, then the user's -X properties. The file's bootstrap.servers replaces
// $KAFKA_BOOTSTRAP_SERVERS and localhost:9092 but not an explicit -b. A bad key or value fails with
// a message naming it and librdkafka's reason; the values of secret properties are never in it.
arrow::Result<ConfPtr> MakeConf(const KafkaOptions& options, const std::vector<Property>& defaults);

}  // namespace clickstream::kafka
