#include "event/landed_schema.h"

#include "event/timestamp.h"

namespace clickstream {

namespace {

std::shared_ptr<arrow::DataType> UtcMicros() { return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"); }
std::shared_ptr<arrow::DataType> Enumeration() { return arrow::dictionary(arrow::int32(), arrow::utf8()); }

arrow::Status AppendOptional(arrow::StringBuilder* builder, std::string_view value) {
  return value.empty() ? builder->AppendNull() : builder->Append(value);
}

arrow::Status AppendOptional(arrow::StringDictionary32Builder* builder, std::string_view value) {
  return value.empty() ? builder->AppendNull() : builder->Append(value);
}

}  // namespace

std::shared_ptr<arrow::Schema> LandedSchema(DateColumn date_column) {
  arrow::FieldVector fields = {
      arrow::field(column::kEventId, arrow::utf8(), false),
      arrow::field(column::kTimestamp, UtcMicros(), false),
      arrow::field(column::kVisitorId, arrow::utf8(), false),
      arrow::field(column::kEventType, Enumeration(), false),
      arrow::field(column::kItemId, arrow::utf8(), false),
      arrow::field(column::kTransactionId, arrow::utf8(), true),
      arrow::field(column::kDevice, Enumeration(), true),
      arrow::field(column::kBrowser, Enumeration(), true),
      arrow::field(column::kOs, Enumeration(), true),
  };
  if (date_column == DateColumn::kInFile) fields.push_back(arrow::field(column::kEventDate, arrow::date32(), false));
  fields.push_back(arrow::field(column::kKafkaPartition, arrow::int32(), false));
  fields.push_back(arrow::field(column::kKafkaOffset, arrow::int64(), false));
  fields.push_back(arrow::field(column::kIngestedAt, UtcMicros(), false));
  return arrow::schema(std::move(fields));
}

LandedBatchBuilder::LandedBatchBuilder(DateColumn date_column)
    : date_column_(date_column),
      schema_(LandedSchema(date_column)),
      timestamp_(UtcMicros(), arrow::default_memory_pool()),
      ingested_at_(UtcMicros(), arrow::default_memory_pool()) {}

arrow::Status LandedBatchBuilder::Append(const Event& event, const LandingInfo& info) {
  ARROW_RETURN_NOT_OK(event_id_.Append(event.event_id));
  ARROW_RETURN_NOT_OK(timestamp_.Append(event.timestamp * 1'000'000));
  ARROW_RETURN_NOT_OK(visitor_id_.Append(event.visitor_id));
  ARROW_RETURN_NOT_OK(event_type_.Append(EventTypeName(event.event_type)));
  ARROW_RETURN_NOT_OK(item_id_.Append(event.item_id));
  ARROW_RETURN_NOT_OK(AppendOptional(&transaction_id_, event.transaction_id));
  ARROW_RETURN_NOT_OK(AppendOptional(&device_, event.device));
  ARROW_RETURN_NOT_OK(AppendOptional(&browser_, event.browser));
  ARROW_RETURN_NOT_OK(AppendOptional(&os_, event.os));
  if (date_column_ == DateColumn::kInFile) {
    ARROW_RETURN_NOT_OK(event_date_.Append(static_cast<int32_t>(FloorDiv(event.timestamp, 86400))));
  }
  ARROW_RETURN_NOT_OK(kafka_partition_.Append(info.kafka_partition));
  ARROW_RETURN_NOT_OK(kafka_offset_.Append(info.kafka_offset));
  ARROW_RETURN_NOT_OK(ingested_at_.Append(info.ingested_at_us));
  ++size_;
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> LandedBatchBuilder::Finish() {
  arrow::ArrayVector columns;
  auto finish = [&columns](arrow::ArrayBuilder* builder) -> arrow::Status {
    std::shared_ptr<arrow::Array> array;
    ARROW_RETURN_NOT_OK(builder->Finish(&array));
    columns.push_back(std::move(array));
    return arrow::Status::OK();
  };
  ARROW_RETURN_NOT_OK(finish(&event_id_));
  ARROW_RETURN_NOT_OK(finish(&timestamp_));
  ARROW_RETURN_NOT_OK(finish(&visitor_id_));
  ARROW_RETURN_NOT_OK(finish(&event_type_));
  ARROW_RETURN_NOT_OK(finish(&item_id_));
  ARROW_RETURN_NOT_OK(finish(&transaction_id_));
  ARROW_RETURN_NOT_OK(finish(&device_));
  ARROW_RETURN_NOT_OK(finish(&browser_));
  ARROW_RETURN_NOT_OK(finish(&os_));
  if (date_column_ == DateColumn::kInFile) ARROW_RETURN_NOT_OK(finish(&event_date_));
  ARROW_RETURN_NOT_OK(finish(&kafka_partition_));
  ARROW_RETURN_NOT_OK(finish(&kafka_offset_));
  ARROW_RETURN_NOT_OK(finish(&ingested_at_));
  const int64_t rows = size_;
  size_ = 0;
  // Dictionary builders keep their memo table across Finish calls; reset them so each batch
  // carries only the values it uses.
  event_type_.ResetFull();
  device_.ResetFull();
  browser_.ResetFull();
  os_.ResetFull();
  return arrow::RecordBatch::Make(schema_, rows, std::move(columns));
}

}  // namespace clickstream
