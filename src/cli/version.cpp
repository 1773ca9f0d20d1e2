#include <string>

#include "cli/commands.h"
#include "kafka/config.h"

namespace clickstream::cli {

std::string VersionText() {
  return "clickstream " CLICKSTREAM_VERSION " (librdkafka " + std::string(kafka::LibrdkafkaVersion()) + ")";
}

}  // namespace clickstream::cli
