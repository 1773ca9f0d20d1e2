#include "consume/consume_stats.h"

#include <fmt/format.h>

namespace clickstream::consume {

std::string FormatStatsLine(const ConsumeStats& stats, double events_per_second) {
  return fmt::format("{:.0f} events/s, {} read, {} events, {} batches, {} files ({:.1f} MiB), {} dead letters, lag {}, "
                     "{} partitions",
                     events_per_second, stats.messages, stats.events, stats.batches, stats.files,
                     static_cast<double>(stats.bytes) / (1024.0 * 1024.0), stats.dead_letters,
                     stats.lag < 0 ? std::string("?") : std::to_string(stats.lag), stats.partitions);
}

std::vector<LogField> StatsFields(const ConsumeStats& stats, double events_per_second) {
  std::vector<LogField> fields = {{"rate", events_per_second}, {"read", stats.messages},
                                  {"events", stats.events},    {"batches", stats.batches},
                                  {"files", stats.files},      {"bytes", stats.bytes},
                                  {"dead_letters", stats.dead_letters}};
  if (stats.lag >= 0) fields.emplace_back("lag", stats.lag);
  fields.emplace_back("partitions", stats.partitions);
  return fields;
}

}  // namespace clickstream::consume
