#include "report/funnel.h"

#include <algorithm>
#include <functional>
#include <numeric>

#include "event/event.h"
#include "event/hash.h"
#include "event/landed_schema.h"
#include "event/timestamp.h"
#include "report/column_decoding.h"

namespace clickstream::report {

namespace {

constexpr std::string_view kUnknownValue = "unknown";
constexpr int kMaxDimensions = 3;

// A segment is the tuple of its dimensions' value ids, packed into one 64-bit key of three 21-bit
// fields; a cell is (day, segment) with the segment in the low 24 bits and the day above them.
// ValueIdsOf and SegmentOf refuse data past these widths instead of letting keys collide.
constexpr int kValueIdBits = 21;
constexpr int kSegmentBits = 24;
constexpr int64_t kMaxValueIds = int64_t{1} << kValueIdBits;
constexpr int64_t kMaxSegments = int64_t{1} << kSegmentBits;

uint64_t CellKey(int64_t day, int32_t segment) {
  return (static_cast<uint64_t>(day) << kSegmentBits) | static_cast<uint64_t>(segment);
}

int64_t DayOfCell(uint64_t key) { return static_cast<int64_t>(key) >> kSegmentBits; }

int32_t SegmentOfCell(uint64_t key) { return static_cast<int32_t>(key & (kMaxSegments - 1)); }

uint64_t PackValueIds(const std::array<int32_t, 3>& value_ids) {
  return (static_cast<uint64_t>(value_ids[0]) << (2 * kValueIdBits)) |
         (static_cast<uint64_t>(value_ids[1]) << kValueIdBits) | static_cast<uint64_t>(value_ids[2]);
}

}  // namespace

const char* DimensionColumn(Dimension dimension) {
  switch (dimension) {
    case Dimension::kDevice:
      return column::kDevice;
    case Dimension::kBrowser:
      return column::kBrowser;
    case Dimension::kOs:
      return column::kOs;
  }
  return column::kDevice;
}

arrow::Result<std::vector<Dimension>> ParseSegmentBy(std::string_view text) {
  std::vector<Dimension> dimensions;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view name = TrimBlanks(text.substr(start, end - start));
    std::optional<Dimension> dimension;
    for (Dimension candidate : {Dimension::kDevice, Dimension::kBrowser, Dimension::kOs}) {
      if (name == DimensionColumn(candidate)) dimension = candidate;
    }
    if (!dimension) {
      return arrow::Status::Invalid("unknown segment dimension '", name, "' (use device, browser and/or os)");
    }
    if (std::find(dimensions.begin(), dimensions.end(), *dimension) != dimensions.end()) {
      return arrow::Status::Invalid("segment dimension '", name, "' given twice");
    }
    dimensions.push_back(*dimension);
    start = end + 1;
  }
  return dimensions;
}

FunnelCounts& FunnelCounts::operator+=(const FunnelCounts& other) {
  visitors += other.visitors;
  views += other.views;
  carts += other.carts;
  transactions += other.transactions;
  return *this;
}

double CartToPurchase(const FunnelCounts& counts) {
  return counts.carts > 0 ? static_cast<double>(counts.transactions) / static_cast<double>(counts.carts) : 0.0;
}

double ViewToCart(const FunnelCounts& counts) {
  return counts.views > 0 ? static_cast<double>(counts.carts) / static_cast<double>(counts.views) : 0.0;
}

FunnelAggregator::FunnelAggregator(std::vector<Dimension> dimensions)
    : dimensions_(std::move(dimensions)), values_(dimensions_.size()), value_ids_(dimensions_.size()) {}

std::vector<std::string> FunnelAggregator::RequiredColumns() const {
  std::vector<std::string> columns = {column::kTimestamp, column::kVisitorId, column::kEventType};
  for (Dimension dimension : dimensions_) columns.emplace_back(DimensionColumn(dimension));
  return columns;
}

int32_t FunnelAggregator::InternValue(int dimension_index, std::string_view value) {
  std::vector<std::string>& values = values_[dimension_index];
  // One lookup whether the value is new or not.
  const auto next_id = static_cast<int32_t>(values.size());
  auto [it, inserted] = value_ids_[dimension_index].try_emplace(std::string(value), next_id);
  if (inserted) values.emplace_back(value);
  return it->second;
}

arrow::Result<std::vector<int32_t>> FunnelAggregator::InternDictionary(const arrow::Array& dictionary,
                                                                       int dimension_index) {
  std::vector<int32_t> ids(dictionary.length());
  for (int64_t i = 0; i < dictionary.length(); ++i) {
    ids[i] = InternValue(dimension_index, dictionary.IsNull(i) ? kUnknownValue : TextAt(dictionary, i));
  }
  return ids;
}

arrow::Result<int32_t> FunnelAggregator::SegmentOf(const std::array<int32_t, 3>& value_ids) {
  auto [it, inserted] = segment_ids_.try_emplace(PackValueIds(value_ids), static_cast<int32_t>(segment_values_.size()));
  if (inserted) {
    if (static_cast<int64_t>(segment_values_.size()) >= kMaxSegments) {
      segment_ids_.erase(it);
      return arrow::Status::Invalid("more than ", kMaxSegments,
                                    " segments: segment by fewer dimensions (--segment-by)");
    }
    segment_values_.push_back(value_ids);
    segment_totals_.emplace_back();
    segment_visitors_.emplace_back();
  }
  return it->second;
}

arrow::Status FunnelAggregator::ValueIdsOf(const arrow::Array& array, int dimension_index, std::vector<int32_t>* ids) {
  const int32_t unknown = InternValue(dimension_index, kUnknownValue);
  if (array.type_id() == arrow::Type::DICTIONARY) {
    const auto& encoded = static_cast<const arrow::DictionaryArray&>(array);
    ARROW_ASSIGN_OR_RAISE(auto mapping, InternDictionary(*encoded.dictionary(), dimension_index));
    ARROW_RETURN_NOT_OK(CheckValueIdLimit(dimension_index));
    return MapDictionaryRows(encoded, mapping, unknown, ids);
  }
  ids->resize(array.length());
  for (int64_t row = 0; row < array.length(); ++row) {
    (*ids)[row] = array.IsNull(row) ? unknown : InternValue(dimension_index, TextAt(array, row));
  }
  return CheckValueIdLimit(dimension_index);
}

arrow::Status FunnelAggregator::CheckValueIdLimit(int dimension_index) const {
  // Checked once per column, before the row loop packs any of its ids.
  if (static_cast<int64_t>(values_[dimension_index].size()) > kMaxValueIds) {
    return arrow::Status::Invalid("column '", DimensionColumn(dimensions_[dimension_index]), "' has more than ",
                                  kMaxValueIds, " distinct values: too many to segment by");
  }
  return arrow::Status::OK();
}

arrow::Status FunnelAggregator::Consume(const arrow::RecordBatch& batch) {
  ARROW_ASSIGN_OR_RAISE(auto timestamps, FindColumn(batch, column::kTimestamp, IsTimestamp, "timestamp"));
  ARROW_ASSIGN_OR_RAISE(auto visitors, FindColumn(batch, column::kVisitorId, IsText, "utf8"));
  ARROW_ASSIGN_OR_RAISE(auto types,
                        FindColumn(batch, column::kEventType, IsTextEnumeration, "dictionary<int32, utf8>"));
  const auto& timestamp_array = static_cast<const arrow::TimestampArray&>(*timestamps);
  const int64_t units_per_day =
      UnitsPerDay(static_cast<const arrow::TimestampType&>(*timestamps->type()).unit());

  // Column by column first (dictionary indices mapped in tight loops), then one pass over rows.
  std::vector<int32_t> type_ids;
  ARROW_RETURN_NOT_OK(EventTypesOf(*types, &type_ids));
  std::array<std::vector<int32_t>, kMaxDimensions> value_ids;
  for (size_t d = 0; d < dimensions_.size(); ++d) {
    ARROW_ASSIGN_OR_RAISE(auto column, FindColumn(batch, DimensionColumn(dimensions_[d]), IsTextEnumeration,
                                                  "dictionary<int32, utf8>"));
    ARROW_RETURN_NOT_OK(ValueIdsOf(*column, static_cast<int>(d), &value_ids[d]));
  }

  const std::hash<std::string_view> hash_text;
  uint64_t last_key = ~0ULL;
  FunnelCounts* cell = nullptr;
  uint64_t last_packed = ~0ULL;
  int32_t segment = 0;
  int64_t last_day = INT64_MIN;
  DistinctKeySet* day_visitors = nullptr;
  for (int64_t row = 0; row < batch.num_rows(); ++row) {
    const int32_t type = type_ids[row];
    if (type < 0 || timestamp_array.IsNull(row) || visitors->IsNull(row)) {
      ++skipped_events_;
      continue;
    }
    std::array<int32_t, 3> ids = {0, 0, 0};
    for (size_t d = 0; d < dimensions_.size(); ++d) ids[d] = value_ids[d][row];
    const uint64_t packed = PackValueIds(ids);
    if (packed != last_packed) {
      ARROW_ASSIGN_OR_RAISE(segment, SegmentOf(ids));
      last_packed = packed;
    }
    const int64_t day = FloorDiv(timestamp_array.Value(row), units_per_day);
    const uint64_t key = CellKey(day, segment);
    if (key != last_key) {
      cell = &cells_[key];
      last_key = key;
    }
    // One small set per day: rows arrive roughly in time order, so the set being probed stays in
    // cache instead of one big set missing it on every row (measured: a third of the run time).
    if (day != last_day) {
      day_visitors = &day_visitors_[day];
      last_day = day;
    }
    const uint64_t visitor_hash = Mix64(hash_text(TextAt(*visitors, row)));
    if (day_visitors->Insert(Mix64(visitor_hash ^ static_cast<uint64_t>(segment)))) ++cell->visitors;
    segment_visitors_[segment].Add(visitor_hash);
    site_visitors_.Add(visitor_hash);
    FunnelCounts& segment_total = segment_totals_[segment];
    int64_t FunnelCounts::*counter = type == static_cast<int>(EventType::kView)        ? &FunnelCounts::views
                                     : type == static_cast<int>(EventType::kAddToCart) ? &FunnelCounts::carts
                                                                                       : &FunnelCounts::transactions;
    ++(cell->*counter);
    ++(segment_total.*counter);
    ++(site_total_.*counter);
    ++events_;
  }
  return arrow::Status::OK();
}

FunnelTable FunnelAggregator::Finish() const {
  FunnelTable table;
  table.dimensions = dimensions_;
  table.events = events_;
  table.skipped_events = skipped_events_;
  table.site_total = site_total_;
  table.site_total.visitors = site_visitors_.Estimate();
  if (cells_.empty()) return table;

  int64_t min_day = INT64_MAX;
  int64_t max_day = INT64_MIN;
  for (const auto& [key, counts] : cells_) {
    const int64_t day = DayOfCell(key);
    min_day = std::min(min_day, day);
    max_day = std::max(max_day, day);
  }
  table.first_day = min_day;
  table.day_count = max_day - min_day + 1;

  // Segments in name order, so the report reads the same on every run.
  std::vector<std::string> names;
  for (const auto& value_ids : segment_values_) {
    std::string name;
    for (size_t d = 0; d < dimensions_.size(); ++d) {
      if (d > 0) name += " / ";
      name += values_[d][value_ids[d]];
    }
    names.push_back(std::move(name));
  }
  std::vector<int32_t> order(segment_values_.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&names](int32_t a, int32_t b) { return names[a] < names[b]; });
  std::vector<int32_t> position(order.size());
  for (size_t i = 0; i < order.size(); ++i) position[order[i]] = static_cast<int32_t>(i);

  table.daily.assign(order.size(), std::vector<FunnelCounts>(table.day_count));
  table.site_daily.assign(table.day_count, FunnelCounts{});
  for (int32_t segment : order) {
    table.segment_names.push_back(names[segment]);
    table.segment_totals.push_back(segment_totals_[segment]);
    table.segment_totals.back().visitors = segment_visitors_[segment].Estimate();
  }
  for (const auto& [key, counts] : cells_) {
    const int64_t day = DayOfCell(key) - min_day;
    const int32_t segment = SegmentOfCell(key);
    table.daily[position[segment]][day] = counts;
    FunnelCounts& site_day = table.site_daily[day];
    site_day.views += counts.views;
    site_day.carts += counts.carts;
    site_day.transactions += counts.transactions;
  }
  return table;
}

}  // namespace clickstream::report
