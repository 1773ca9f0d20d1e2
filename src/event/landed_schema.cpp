#include "event/landed_schema.h"

#include <type_traits>
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

// Empty text is null in a nullable column; a non-nullable one never holds empty text after
// BuildEvent, except source_id, which the consumer fills before landing.
template <typename Builder>
arrow::Status AppendText(Builder* builder, std::string_view value, bool nullable) {
  return nullable && value.empty() ? builder->AppendNull() : builder->Append(value);
}

// One field's value into its builder. A template over the field's index, so the builder's type and
// the member are known when compiling: no virtual call and no switch per value.
template <size_t I>
arrow::Status AppendField(const Event& event, arrow::ArrayBuilder* builder) {
  constexpr const EventFieldSpec& spec = kEventFields[I];
  if constexpr (spec.column.arrow == ArrowKind::kUtf8 || spec.column.arrow == ArrowKind::kDictionary) {
    using Builder = std::conditional_t<spec.column.arrow == ArrowKind::kUtf8, arrow::StringBuilder,
                                       arrow::StringDictionary32Builder>;
    std::string_view value;
    if constexpr (spec.text != nullptr) {
      value = event.*spec.text;
    } else {
      value = EventTypeName(event.event_type);
    }
    return AppendText(static_cast<Builder*>(builder), value, spec.column.nullable);
  } else if constexpr (spec.column.arrow == ArrowKind::kInt64) {
    return static_cast<arrow::Int64Builder*>(builder)->Append(event.*spec.number);
  } else {
    static_assert(spec.column.arrow == ArrowKind::kTimestampMicros, "an event field of a consumer-only type");
    return static_cast<arrow::TimestampBuilder*>(builder)->Append(event.*spec.number * kMicrosPerSecond);
  }
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

arrow::Status LandedBatchBuilder::Append(const Event& event, const LandingInfo& info) {
  const arrow::Status fields = [&]<size_t... I>(std::index_sequence<I...>) {
    arrow::Status status;
    // Stops at the first failure, as ARROW_RETURN_NOT_OK would.
    ((status = AppendField<I>(event, fields_[I].get()), status.ok()) && ...);
    return status;
  }(std::make_index_sequence<kEventFieldCount>());
  ARROW_RETURN_NOT_OK(fields);
  if (date_column_ == DateColumn::kInFile) {
    ARROW_RETURN_NOT_OK(event_date_.Append(static_cast<int32_t>(FloorDiv(event.timestamp, kSecondsPerDay))));
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
    }
  }
  return arrow::RecordBatch::Make(schema_, rows, std::move(columns));
}

}  // namespace clickstream
