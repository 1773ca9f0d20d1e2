#include "cli/kafka_flags.h"

namespace clickstream::cli {

void AddKafkaFlags(CLI::App* app, kafka::KafkaOptions* options) {
  app->add_option("-b,--bootstrap-servers", options->bootstrap_servers,
                  "Kafka bootstrap servers (default: the -F file's bootstrap.servers, else "
                  "$KAFKA_BOOTSTRAP_SERVERS, else localhost:9092)");
  app->add_option("-t,--topic", options->topic, "Kafka topic")->capture_default_str();
  app->add_option("-F", options->properties_file,
                  "librdkafka properties file (key=value lines, # comments), applied before any -X; e.g. the "
                  "security settings of a cluster")
      ->check(CLI::ExistingFile);
  app->add_option("-X", options->properties,
                  "librdkafka property key=value, passed through as is (repeatable; e.g. -X security.protocol=SASL_SSL)")
      ->allow_extra_args(false);
}

}  // namespace clickstream::cli
