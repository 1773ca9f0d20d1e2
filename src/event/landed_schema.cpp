#include "event/landed_schema.h"

#include <utility>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "event/timestamp.h"

namespace clickstream {

namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;

// The landing columns' builders are fixed members; their types must match the table.
static_assert(kLandingColumns[0].arrow == ArrowKind::kInt32 && kLandingColumns[1].arrow == ArrowKind::kInt64 &&
              kLandingColumns[2].arrow == ArrowKind::kTimestampMicros && kEventDateColumn.arrow == ArrowKind::kDate32);

std::unique_ptr<arrow::ArrayBuilder> MakeBuilder(ArrowKind kind) {
  switch (kind) {
    case ArrowKind::kUtf8: return std::make_unique<arrow::StringBuilder>();
    case ArrowKind::kDictionary: return std::make_unique<arrow::StringDictionary32Builder>();
    case ArrowKind::kInt32: return std::make_unique<arrow::Int32Builder>();
    case ArrowKind::kInt64: return std::make_unique<arrow::Int64Builder>();
    case ArrowKind::kDate32: return std::make_unique<arrow::Date32Builder>();
    case ArrowKind::kTimestampMicros:
      return std::make_unique<arrow::TimestampBuilder>(ArrowTypeOf(kind), arrow::default_memory_pool());
  }
  return nullptr;
}

std::string_view EncodingName(ParquetEncoding encoding) {
  switch (encoding) {
    case ParquetEncoding::kDictionary: return "RLE_DICTIONARY";
    case ParquetEncoding::kPlain: return "PLAIN";
    case ParquetEncoding::kDeltaBinaryPacked: return "DELTA_BINARY_PACKED";
  }
  return "";
}

}  // namespace

std::shared_ptr<arrow::DataType> ArrowTypeOf(ArrowKind kind) {
  switch (kind) {
    case ArrowKind::kUtf8: return arrow::utf8();
    case ArrowKind::kDictionary: return arrow::dictionary(arrow::int32(), arrow::utf8());
    case ArrowKind::kInt32: return arrow::int32();
    case ArrowKind::kInt64: return arrow::int64();
    case ArrowKind::kDate32: return arrow::date32();
    case ArrowKind::kTimestampMicros: return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  }
  return nullptr;
}

std::vector<ColumnSpec> LandedColumns(DateColumn date_column) {
  std::vector<ColumnSpec> columns;
  for (const EventFieldSpec& spec : kEventFields) columns.push_back(spec.column);
  if (date_column == DateColumn::kInFile) columns.push_back(kEventDateColumn);
  columns.insert(columns.end(), kLandingColumns.begin(), kLandingColumns.end());
  return columns;
}

std::shared_ptr<arrow::Schema> LandedSchema(DateColumn date_column) {
  arrow::FieldVector fields;
  for (const ColumnSpec& spec : LandedColumns(date_column)) {
    fields.push_back(arrow::field(std::string(spec.name), ArrowTypeOf(spec.arrow), spec.nullable));
  }
  return arrow::schema(std::move(fields));
}

std::string LandedSchemaJson(DateColumn date_column) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("columns");
  writer.StartArray();
  for (const ColumnSpec& spec : LandedColumns(date_column)) {
    writer.StartObject();
    writer.Key("name");
    writer.String(spec.name.data(), static_cast<rapidjson::SizeType>(spec.name.size()));
    writer.Key("type");
    writer.String(ArrowTypeOf(spec.arrow)->ToString());
    writer.Key("nullable");
    writer.Bool(spec.nullable);
    writer.Key("encoding");
    const std::string_view encoding = EncodingName(spec.encoding);
    writer.String(encoding.data(), static_cast<rapidjson::SizeType>(encoding.size()));
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return buffer.GetString();
}

LandedBatchBuilder::LandedBatchBuilder(DateColumn date_column)
    : date_column_(date_column),
      schema_(LandedSchema(date_column)),
      ingested_at_(ArrowTypeOf(ArrowKind::kTimestampMicros), arrow::default_memory_pool()) {
  for (size_t i = 0; i < kEventFieldCount; ++i) fields_[i] = MakeBuilder(kEventFields[i].column.arrow);
}

// Room for this many more rows is made at once, so the fixed-width columns append without checks.
constexpr int64_t kReservedRows = 1024;

arrow::Status LandedBatchBuilder::ReserveRows() {
  for (auto& builder : fields_) ARROW_RETURN_NOT_OK(builder->Reserve(kReservedRows));
  if (date_column_ == DateColumn::kInFile) ARROW_RETURN_NOT_OK(event_date_.Reserve(kReservedRows));
  ARROW_RETURN_NOT_OK(kafka_partition_.Reserve(kReservedRows));
  ARROW_RETURN_NOT_OK(kafka_offset_.Reserve(kReservedRows));
  ARROW_RETURN_NOT_OK(ingested_at_.Reserve(kReservedRows));
  reserved_ = size_ + kReservedRows;
  return arrow::Status::OK();
}

arrow::Status LandedBatchBuilder::AppendDictionaryText(arrow::StringDictionary32Builder* builder,
                                                       KnownValues* known, std::string_view value) {
  for (size_t i = 0; i < known->size; ++i) {
    if (known->values[i] == value) return builder->AppendIndices(&known->indices[i], 1);
  }
  const int64_t dictionary_length = builder->dictionary_length();
  ARROW_RETURN_NOT_OK(builder->Append(value));
  if (builder->dictionary_length() > dictionary_length && known->size < KnownValues::kCapacity) {
    known->values[known->size].assign(value);
    known->indices[known->size] = static_cast<int32_t>(dictionary_length);
    ++known->size;
  }
  return arrow::Status::OK();
}

// One field's value into its builder. A template over the field's index, so the builder's type and
// the member are known when compiling: no virtual call and no switch per value. Empty text is null
// in a nullable column; a non-nullable one never holds empty text after BuildEvent, except
// source_id, which the consumer fills before landing.
template <size_t I>
arrow::Status LandedBatchBuilder::AppendField(const Event& event) {
  constexpr const EventFieldSpec& spec = kEventFields[I];
  arrow::ArrayBuilder* builder = fields_[I].get();
  if constexpr (spec.column.arrow == ArrowKind::kUtf8 || spec.column.arrow == ArrowKind::kDictionary) {
    std::string_view value;
    if constexpr (spec.text != nullptr) {
      value = event.*spec.text;
    } else {
      value = EventTypeName(event.event_type);
    }
    if (spec.column.nullable && value.empty()) return builder->AppendNull();
    if constexpr (spec.column.arrow == ArrowKind::kUtf8) {
      return static_cast<arrow::StringBuilder*>(builder)->Append(value);
    } else {
      return AppendDictionaryText(static_cast<arrow::StringDictionary32Builder*>(builder), &known_values_[I], value);
    }
  } else if constexpr (spec.column.arrow == ArrowKind::kInt64) {
    static_cast<arrow::Int64Builder*>(builder)->UnsafeAppend(event.*spec.number);
    return arrow::Status::OK();
  } else {
    static_assert(spec.column.arrow == ArrowKind::kTimestampMicros, "an event field of a consumer-only type");
    static_cast<arrow::TimestampBuilder*>(builder)->UnsafeAppend(event.*spec.number * kMicrosPerSecond);
    return arrow::Status::OK();
  }
}

arrow::Status LandedBatchBuilder::Append(const Event& event, const LandingInfo& info) {
  if (size_ == reserved_) ARROW_RETURN_NOT_OK(ReserveRows());
  const arrow::Status fields = [&]<size_t... I>(std::index_sequence<I...>) {
    arrow::Status status;
    // Stops at the first failure, as ARROW_RETURN_NOT_OK would.
    ((status = AppendField<I>(event), status.ok()) && ...);
    return status;
  }(std::make_index_sequence<kEventFieldCount>());
  ARROW_RETURN_NOT_OK(fields);
  if (date_column_ == DateColumn::kInFile) {
    event_date_.UnsafeAppend(static_cast<int32_t>(FloorDiv(event.timestamp, kSecondsPerDay)));
  }
  kafka_partition_.UnsafeAppend(info.kafka_partition);
  kafka_offset_.UnsafeAppend(info.kafka_offset);
  ingested_at_.UnsafeAppend(info.ingested_at_us);
  ++size_;
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> LandedBatchBuilder::Finish() {
  reserved_ = 0;  // a finished builder has no room left, even when a later Finish fails
  arrow::ArrayVector columns;
  auto finish = [&columns](arrow::ArrayBuilder* builder) -> arrow::Status {
    std::shared_ptr<arrow::Array> array;
    ARROW_RETURN_NOT_OK(builder->Finish(&array));
    columns.push_back(std::move(array));
    return arrow::Status::OK();
  };
  for (auto& builder : fields_) ARROW_RETURN_NOT_OK(finish(builder.get()));
  if (date_column_ == DateColumn::kInFile) ARROW_RETURN_NOT_OK(finish(&event_date_));
  ARROW_RETURN_NOT_OK(finish(&kafka_partition_));
  ARROW_RETURN_NOT_OK(finish(&kafka_offset_));
  ARROW_RETURN_NOT_OK(finish(&ingested_at_));
  const int64_t rows = size_;
  size_ = 0;
  // Dictionary builders keep their memo table across Finish calls; reset them so each batch
  // carries only the values it uses.
  for (size_t i = 0; i < kEventFieldCount; ++i) {
    if (kEventFields[i].column.arrow == ArrowKind::kDictionary) {
      static_cast<arrow::StringDictionary32Builder*>(fields_[i].get())->ResetFull();
      known_values_[i].size = 0;
    }
  }
  return arrow::RecordBatch::Make(schema_, rows, std::move(columns));
}

}  // namespace clickstream
