// Topic administration through the Kafka admin API: we create what we need explicitly and never
// rely on broker auto-creation (production brokers usually have it off).
#pragma once

#include <chrono>
#include <string_view>

#include <arrow/result.h>

#include "kafka/config.h"

namespace clickstream::kafka {

struct TopicSpec {
  std::string_view name;
  int partitions = 6;
  int replication_factor = -1;  // -1: the broker's default.replication.factor
};

// Creates the topic unless it exists. Returns true when this call created it (and the cluster's
// metadata shows all its partitions with leaders), false when it was already there ("already
// exists" is success). Connection settings come from `options` (-b, -X),
// so secured clusters work as they do for the producer and consumer.
arrow::Result<bool> EnsureTopic(const KafkaOptions& options, const TopicSpec& spec,
                                std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The same with a ready configuration (MakeConf), which this call consumes.
arrow::Result<bool> EnsureTopic(ConfPtr conf, const TopicSpec& spec,
                                std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace clickstream::kafka
