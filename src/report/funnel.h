// The funnel aggregate: per day and per segment, how many visitors came and how far they got
// (view -> add-to-cart -> transaction). It is the only thing the report keeps in memory, so the
// report's memory grows with days x segments, never with the number of events. Distinct visitors
// are exact per day and segment (one 64-bit hash per distinct visitor-day-segment, ~16 bytes) and
// estimated with HyperLogLog (+-1%, 16 KiB per counter) over the whole period, where an exact set
// would have to hold every visitor of the site.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <arrow/api.h>

#include "report/distinct_count.h"

namespace clickstream::report {

// The event attributes a segment can be cut by.
enum class Dimension : uint8_t { kDevice, kBrowser, kOs };

// The landed column holding the dimension.
const char* DimensionColumn(Dimension dimension);

// Parses "device,browser,os" (any non-empty subset, any order, no repeats).
arrow::Result<std::vector<Dimension>> ParseSegmentBy(std::string_view text);

struct FunnelCounts {
  int64_t visitors = 0;  // distinct visitor ids
  int64_t views = 0;
  int64_t carts = 0;
  int64_t transactions = 0;

  FunnelCounts& operator+=(const FunnelCounts& other);
};

// cart -> purchase, or 0 without carts.
double CartToPurchase(const FunnelCounts& counts);
// view -> cart, or 0 without views.
double ViewToCart(const FunnelCounts& counts);

// The finished aggregate: dense, one row of days per segment. Day i is first_day + i.
struct FunnelTable {
  std::vector<Dimension> dimensions;
  int64_t first_day = 0;  // days since the epoch, UTC
  int64_t day_count = 0;
  std::vector<std::string> segment_names;                // "mobile / Safari / iOS"
  std::vector<std::vector<FunnelCounts>> daily;          // [segment][day]
  std::vector<FunnelCounts> segment_totals;              // whole period, visitors estimated (HyperLogLog)
  FunnelCounts site_total;                               // whole site and period, visitors estimated
  std::vector<FunnelCounts> site_daily;                  // [day]; visitors left at 0 (not needed)
  int64_t events = 0;
  int64_t skipped_events = 0;  // unknown event types or null timestamps
};

// Folds record batches with the landed timestamp, visitor_id, event_type and dimension columns
// into the funnel aggregate.
class FunnelAggregator {
 public:
  explicit FunnelAggregator(std::vector<Dimension> dimensions);

  // The columns Consume needs, by their landed names.
  std::vector<std::string> RequiredColumns() const;

  // Fails (Invalid) when a column is missing or of an unexpected type.
  arrow::Status Consume(const arrow::RecordBatch& batch);

  FunnelTable Finish() const;

 private:
  // Maps a batch's dictionary (or plain string) values to this aggregator's value ids.
  arrow::Result<std::vector<int32_t>> InternDictionary(const arrow::Array& dictionary, int dimension_index);
  int32_t InternValue(int dimension_index, std::string_view value);
  // Invalid past the 2^24 segments a cell key can hold.
  arrow::Result<int32_t> SegmentOf(const std::array<int32_t, 3>& value_ids);
  // One value id per row of a dimension column; Invalid past the 2^21 values a segment key holds.
  arrow::Status ValueIdsOf(const arrow::Array& array, int dimension_index, std::vector<int32_t>* ids);
  arrow::Status CheckValueIdLimit(int dimension_index) const;

  std::vector<Dimension> dimensions_;
  std::vector<std::vector<std::string>> values_;  // [dimension][value id]
  std::vector<std::unordered_map<std::string, int32_t>> value_ids_;
  std::unordered_map<uint64_t, int32_t> segment_ids_;  // packed value ids -> segment
  std::vector<std::array<int32_t, 3>> segment_values_;
  std::unordered_map<uint64_t, FunnelCounts> cells_;  // (day, segment) -> counts
  std::vector<FunnelCounts> segment_totals_;  // visitors filled in by Finish from the sketches
  std::vector<DistinctCountSketch> segment_visitors_;
  FunnelCounts site_total_;
  DistinctCountSketch site_visitors_;
  std::unordered_map<int64_t, DistinctKeySet> day_visitors_;  // (visitor, segment) keys seen per day
  int64_t events_ = 0;
  int64_t skipped_events_ = 0;
};

}  // namespace clickstream::report
