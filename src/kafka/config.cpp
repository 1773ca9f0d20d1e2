#include "kafka/config.h"

#include <cstdlib>

namespace clickstream::kafka {

void AddKafkaFlags(CLI::App* app, KafkaOptions* options) {
  app->add_option("-b,--bootstrap-servers", options->bootstrap_servers,
                  "Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS, else localhost:9092)");
  app->add_option("-t,--topic", options->topic, "Kafka topic")->capture_default_str();
  app->add_option("-X", options->properties,
                  "librdkafka property key=value, passed through as is (repeatable; e.g. -X security.protocol=SASL_SSL)")
      ->allow_extra_args(false);
}

std::string ResolveBootstrapServers(const KafkaOptions& options) {
  if (!options.bootstrap_servers.empty()) return options.bootstrap_servers;
  const char* from_env = std::getenv("KAFKA_BOOTSTRAP_SERVERS");
  return from_env != nullptr && *from_env != '\0' ? from_env : "localhost:9092";
}

namespace {

arrow::Status SetProperty(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char error[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error, sizeof(error)) != RD_KAFKA_CONF_OK) {
    return arrow::Status::Invalid("Kafka property ", key, "=", value, ": ", error);
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<ConfPtr> MakeConf(const KafkaOptions& options,
                                const std::vector<std::pair<std::string, std::string>>& defaults) {
  ConfPtr conf(rd_kafka_conf_new());
  ARROW_RETURN_NOT_OK(SetProperty(conf.get(), "bootstrap.servers", ResolveBootstrapServers(options)));
  for (const auto& [key, value] : defaults) ARROW_RETURN_NOT_OK(SetProperty(conf.get(), key, value));
  for (const std::string& property : options.properties) {
    const size_t equals = property.find('=');
    if (equals == std::string::npos || equals == 0) {
      return arrow::Status::Invalid("-X ", property, ": expected key=value (e.g. -X linger.ms=20)");
    }
    ARROW_RETURN_NOT_OK(SetProperty(conf.get(), property.substr(0, equals), property.substr(equals + 1)));
  }
  return conf;
}

arrow::Result<rd_kafka_t*> NewHandle(rd_kafka_type_t type, ConfPtr* conf, std::string_view role) {
  char error[512];
  rd_kafka_t* handle = rd_kafka_new(type, conf->get(), error, sizeof(error));
  if (handle == nullptr) return arrow::Status::Invalid("cannot create Kafka ", role, ": ", error);
  conf->release();
  return handle;
}

}  // namespace clickstream::kafka
