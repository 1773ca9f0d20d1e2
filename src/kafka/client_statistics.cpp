#include "kafka/client_statistics.h"

#include <algorithm>
#include <charconv>
#include <string>

#include <rapidjson/document.h>

namespace clickstream::kafka {

namespace {

int64_t IntMember(const rapidjson::Value& object, const char* name) {
  const auto it = object.FindMember(name);
  return it != object.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : 0;
}

double MaxBrokerRtt(const rapidjson::Value& brokers) {
  double max_rtt = -1;
  for (const auto& [name, broker] : brokers.GetObject()) {
    (void)name;
    if (!broker.IsObject() || IntMember(broker, "nodeid") < 0) continue;
    const auto rtt = broker.FindMember("rtt");
    if (rtt == broker.MemberEnd() || !rtt->value.IsObject()) continue;
    // librdkafka reports 0 until a request was answered in the window: not a measurement.
    if (IntMember(rtt->value, "cnt") <= 0) continue;
    max_rtt = std::max(max_rtt, static_cast<double>(IntMember(rtt->value, "avg")) / 1e6);
  }
  return max_rtt;
}

void ReadPartitionQueues(const rapidjson::Value& partitions, ClientStatistics* statistics) {
  for (const auto& [key, partition] : partitions.GetObject()) {
    int32_t id = -1;
    const std::string_view text(key.GetString(), key.GetStringLength());
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (error != std::errc() || end != text.data() + text.size() || id < 0 || !partition.IsObject()) continue;
    statistics->partitions[id] = PartitionQueue{IntMember(partition, "fetchq_cnt"), IntMember(partition, "fetchq_size")};
  }
}

}  // namespace

arrow::Result<ClientStatistics> ParseClientStatistics(std::string_view json, std::string_view topic) {
  rapidjson::Document document;
  document.Parse(json.data(), json.size());
  if (document.HasParseError() || !document.IsObject()) {
    return arrow::Status::Invalid("librdkafka statistics are not a JSON object");
  }
  ClientStatistics statistics;
  statistics.queued_messages = IntMember(document, "msg_cnt");
  statistics.queued_bytes = IntMember(document, "msg_size");
  if (const auto brokers = document.FindMember("brokers"); brokers != document.MemberEnd() && brokers->value.IsObject()) {
    statistics.max_rtt_seconds = MaxBrokerRtt(brokers->value);
  }
  const auto topics = document.FindMember("topics");
  if (topics == document.MemberEnd() || !topics->value.IsObject()) return statistics;
  const std::string name(topic);
  const auto found = topics->value.FindMember(name.c_str());
  if (found == topics->value.MemberEnd() || !found->value.IsObject()) return statistics;
  const auto partitions = found->value.FindMember("partitions");
  if (partitions != found->value.MemberEnd() && partitions->value.IsObject()) {
    ReadPartitionQueues(partitions->value, &statistics);
  }
  return statistics;
}

}  // namespace clickstream::kafka
