// Kafka connection settings shared by produce and consume, and the librdkafka configuration built
// from them. kcat-style: -b brokers, -t topic, -X key=value passed straight to librdkafka.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/result.h>
#include <librdkafka/rdkafka.h>

#include <CLI/CLI.hpp>

namespace clickstream::kafka {

inline constexpr char kDefaultTopic[] = "clickstream-events";

struct KafkaOptions {
  std::string bootstrap_servers;       // empty: $KAFKA_BOOTSTRAP_SERVERS, else localhost:9092
  std::string topic = kDefaultTopic;
  std::vector<std::string> properties;  // "key=value", applied after our defaults so they win
};

// Declares -b/--bootstrap-servers, -t/--topic and -X on a subcommand.
void AddKafkaFlags(CLI::App* app, KafkaOptions* options);

std::string ResolveBootstrapServers(const KafkaOptions& options);

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

// Builds a configuration: bootstrap servers, then `defaults` (the module's own tuning), then the
// user's -X properties. A bad key or value fails with a message naming it and librdkafka's reason.
arrow::Result<ConfPtr> MakeConf(const KafkaOptions& options,
                                const std::vector<std::pair<std::string, std::string>>& defaults);

// Creates a client handle from the configuration. librdkafka takes the configuration over only when
// creation succeeds, so *conf is released then and kept (and freed by its owner) otherwise.
arrow::Result<rd_kafka_t*> NewHandle(rd_kafka_type_t type, ConfPtr* conf, std::string_view role);

}  // namespace clickstream::kafka
