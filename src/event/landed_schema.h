// The landed (Parquet) form of an event: the event's own columns plus what the consumer adds.
// Column names live here once; the sink writes them and the report reads them by these names.
#pragma once

#include <cstdint>
#include <memory>

#include <arrow/api.h>

#include "event/event.h"

namespace clickstream {

namespace column {
inline constexpr char kEventId[] = "event_id";
inline constexpr char kTimestamp[] = "timestamp";
inline constexpr char kVisitorId[] = "visitor_id";
inline constexpr char kEventType[] = "event_type";
inline constexpr char kItemId[] = "item_id";
inline constexpr char kTransactionId[] = "transaction_id";
inline constexpr char kDevice[] = "device";
inline constexpr char kBrowser[] = "browser";
inline constexpr char kOs[] = "os";
inline constexpr char kEventDate[] = "event_date";
inline constexpr char kKafkaPartition[] = "kafka_partition";
inline constexpr char kKafkaOffset[] = "kafka_offset";
inline constexpr char kIngestedAt[] = "ingested_at";
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

std::shared_ptr<arrow::Schema> LandedSchema(DateColumn date_column);

// Accumulates events column by column and hands them out as one RecordBatch.
class LandedBatchBuilder {
 public:
  explicit LandedBatchBuilder(DateColumn date_column);

  arrow::Status Append(const Event& event, const LandingInfo& info);
  int64_t size() const { return size_; }
  // Returns the rows appended since the last Finish and starts a new batch.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Finish();

 private:
  DateColumn date_column_;
  std::shared_ptr<arrow::Schema> schema_;
  int64_t size_ = 0;
  arrow::StringBuilder event_id_;
  arrow::TimestampBuilder timestamp_;
  arrow::StringBuilder visitor_id_;
  arrow::StringDictionary32Builder event_type_;
  arrow::StringBuilder item_id_;
  arrow::StringBuilder transaction_id_;
  arrow::StringDictionary32Builder device_;
  arrow::StringDictionary32Builder browser_;
  arrow::StringDictionary32Builder os_;
  arrow::Date32Builder event_date_;
  arrow::Int32Builder kafka_partition_;
  arrow::Int64Builder kafka_offset_;
  arrow::TimestampBuilder ingested_at_;
};

}  // namespace clickstream
