// The landed (Parquet) form of an event: the event's own columns plus what the consumer adds, in
// the order and with the types of src/event/fields.h. The sink writes them and the report reads
// them by these names.
#pragma once

#include <cstdint>
#include <array>
#include <memory>
#include <string>
#include <vector>

#include <arrow/api.h>

#include "event/event.h"
#include "event/fields.h"

namespace clickstream {

namespace column {
namespace detail {
// The name of a landed column, checked against the field tables when compiling. Indexes rather than
// pointers: GCC's AddressSanitizer build refuses to compare addresses in constant expressions.
constexpr const char* Named(std::string_view name) {
  for (size_t i = 0; i < kEventFieldCount; ++i) {
    if (kEventFields[i].column.name == name) return kEventFields[i].column.name.data();
  }
  for (size_t i = 0; i < kLandingColumns.size(); ++i) {
    if (kLandingColumns[i].name == name) return kLandingColumns[i].name.data();
  }
  if (kEventDateColumn.name == name) return kEventDateColumn.name.data();
  throw "not a landed column";  // in a constant expression: a compile error
}
}  // namespace detail
inline constexpr const char* kSourceId = detail::Named("source_id");
inline constexpr const char* kSourceLine = detail::Named("source_line");
inline constexpr const char* kTimestamp = detail::Named("timestamp");
inline constexpr const char* kVisitorId = detail::Named("visitor_id");
inline constexpr const char* kEventType = detail::Named("event_type");
inline constexpr const char* kItemId = detail::Named("item_id");
inline constexpr const char* kTransactionId = detail::Named("transaction_id");
inline constexpr const char* kDevice = detail::Named("device");
inline constexpr const char* kBrowser = detail::Named("browser");
inline constexpr const char* kOs = detail::Named("os");
inline constexpr const char* kEventDate = detail::Named("event_date");
inline constexpr const char* kKafkaPartition = detail::Named("kafka_partition");
inline constexpr const char* kKafkaOffset = detail::Named("kafka_offset");
inline constexpr const char* kIngestedAt = detail::Named("ingested_at");
}  // namespace column

// Where an event was read from, and when: the consumer's enrichment.
struct LandingInfo {
  int32_t kafka_partition = 0;
  int64_t kafka_offset = 0;
  int64_t ingested_at_us = 0;  // microseconds since the epoch, UTC
};

// With Hive-style event_date=… directories the date lives in the path, as Hive and Spark expect;
// a copy inside the file would clash with the partition column in pyarrow and Spark.
enum class DateColumn { kInFile, kInPath };

// Every landed column in file order: the event's fields, event_date when in the file, then the
// consumer's columns.
std::vector<ColumnSpec> LandedColumns(DateColumn date_column);

std::shared_ptr<arrow::DataType> ArrowTypeOf(ArrowKind kind);

std::shared_ptr<arrow::Schema> LandedSchema(DateColumn date_column);

// The landed schema as JSON: {"columns":[{"name":…,"type":…,"nullable":…,"encoding":…},…]}, with
// Arrow's type names ("timestamp[us, tz=UTC]", "dictionary<values=string, indices=int32, ordered=0>").
std::string LandedSchemaJson(DateColumn date_column);

// Accumulates events column by column and hands them out as one RecordBatch.
class LandedBatchBuilder {
 public:
  explicit LandedBatchBuilder(DateColumn date_column);

  arrow::Status Append(const Event& event, const LandingInfo& info);
  int64_t size() const { return size_; }
  // Returns the rows appended since the last Finish and starts a new batch.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Finish();

 private:
  // A dictionary column's first values and their indices in its builder's dictionary: a value seen
  // before is appended as its index, without hashing its text again. Cleared with the dictionaries.
  struct KnownValues {
    static constexpr size_t kCapacity = 8;  // event_type, device, browser, os have a handful each
    std::array<std::string, kCapacity> values;
    std::array<int32_t, kCapacity> indices{};
    size_t size = 0;
  };

  template <size_t I>
  arrow::Status AppendField(const Event& event);
  arrow::Status AppendDictionaryText(arrow::StringDictionary32Builder* builder, KnownValues* known,
                                     std::string_view value);
  arrow::Status ReserveRows();

  DateColumn date_column_;
  std::shared_ptr<arrow::Schema> schema_;
  int64_t size_ = 0;
  int64_t reserved_ = 0;  // rows every builder has room for, so fixed-width values go in unchecked
  // One builder per event field, in kEventFields order; the concrete type follows the field's
  // ArrowKind, so Append casts without a virtual call.
  std::array<std::unique_ptr<arrow::ArrayBuilder>, kEventFieldCount> fields_;
  std::array<KnownValues, kEventFieldCount> known_values_;
  arrow::Date32Builder event_date_;
  arrow::Int32Builder kafka_partition_;
  arrow::Int64Builder kafka_offset_;
  arrow::TimestampBuilder ingested_at_;
};

}  // namespace clickstream
