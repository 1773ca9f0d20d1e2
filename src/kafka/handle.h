// Internal to src/kafka/: the owned client handle and the helpers the wrappers share. Only the
// kafka module's .cpp files include this header, and with it librdkafka's.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <arrow/result.h>
#include <librdkafka/rdkafka.h>

#include "kafka/config.h"

namespace clickstream::kafka {

struct HandleDeleter {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;

// Creates a client handle from the configuration. librdkafka takes the configuration over only when
// creation succeeds, so *conf is released then and kept (and freed by its owner) otherwise.
arrow::Result<HandlePtr> NewHandle(rd_kafka_type_t type, ConfPtr* conf, std::string_view role);

// The bootstrap.servers a configuration ended up with (for messages).
std::string ConfiguredBootstrapServers(const rd_kafka_conf_t* conf);

}  // namespace clickstream::kafka
