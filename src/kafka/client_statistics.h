// The few librdkafka statistics worth exporting (statistics.interval.ms), read from the JSON the
// client emits: how long the brokers take to answer, and what waits in the client's queues.
#pragma once

#include <cstdint>
#include <map>
#include <string_view>

#include <arrow/result.h>

namespace clickstream::kafka {

struct PartitionQueue {
  int64_t messages = 0;  // fetched, waiting for the application (fetchq_cnt)
  int64_t bytes = 0;     // fetchq_size
};

struct ClientStatistics {
  // The slowest broker's average round-trip time over the last interval; -1 when no broker has
  // answered a request yet. Bootstrap entries (no node id) are left out.
  double max_rtt_seconds = -1;
  int64_t queued_messages = 0;  // produced, not yet delivered (msg_cnt)
  int64_t queued_bytes = 0;     // msg_size
  std::map<int32_t, PartitionQueue> partitions;  // of `topic`; the internal -1 partition left out
};

// Parses one statistics document; Invalid when it is not librdkafka's JSON shape.
arrow::Result<ClientStatistics> ParseClientStatistics(std::string_view json, std::string_view topic);

}  // namespace clickstream::kafka
