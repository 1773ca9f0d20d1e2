// The kcat-style Kafka flags shared by produce and consume. They live with the CLI so that
// src/kafka/ stays free of the command-line library.
#pragma once

#include <CLI/CLI.hpp>

#include "kafka/config.h"

namespace clickstream::cli {

// Declares -b/--bootstrap-servers, -t/--topic, -F (a librdkafka properties file) and -X on a
// subcommand.
void AddKafkaFlags(CLI::App* app, kafka::KafkaOptions* options);

}  // namespace clickstream::cli
