#include "sink/delta/table_schema.h"

#include <cstdio>
#include <map>
#include <optional>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "event/fields.h"
#include "event/timestamp.h"

namespace clickstream::sink::delta {

namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Delta's primitive type names. A dictionary is a Parquet encoding, not a type: it is a string here.
std::string_view DeltaTypeOf(ArrowKind kind) {
  switch (kind) {
    case ArrowKind::kUtf8:
    case ArrowKind::kDictionary: return "string";
    case ArrowKind::kInt32: return "integer";
    case ArrowKind::kInt64: return "long";
    case ArrowKind::kDate32: return "date";
    // µs, adjusted to UTC: `timestamp`. (`timestamp_ntz` would need reader 3 / writer 7.)
    case ArrowKind::kTimestampMicros: return "timestamp";
  }
  return "";
}

// The table's columns: every landed column, event_date included whichever layout writes it.
std::vector<ColumnSpec> TableColumns() { return LandedColumns(DateColumn::kInFile); }

struct TableField {
  std::string type;  // a primitive type name, or "" for a nested type
  bool nullable = true;
};

arrow::Result<std::map<std::string, TableField>> ParseSchemaString(const std::string& schema_string) {
  rapidjson::Document document;
  document.Parse(schema_string.data(), schema_string.size());
  if (document.HasParseError() || !document.IsObject()) {
    return arrow::Status::Invalid("the table's schemaString is not a JSON object");
  }
  auto fields = document.FindMember("fields");
  if (fields == document.MemberEnd() || !fields->value.IsArray()) {
    return arrow::Status::Invalid("the table's schemaString has no list of fields");
  }
  std::map<std::string, TableField> out;
  for (const auto& field : fields->value.GetArray()) {
    if (!field.IsObject() || !field.HasMember("name") || !field["name"].IsString() || !field.HasMember("type")) {
      return arrow::Status::Invalid("the table's schemaString has a field without a name or type");
    }
    TableField parsed;
    if (field["type"].IsString()) parsed.type = field["type"].GetString();
    parsed.nullable = !field.HasMember("nullable") || !field["nullable"].IsBool() || field["nullable"].GetBool();
    if (field.HasMember("metadata") && field["metadata"].IsObject()) {
      // Column mapping renames physical columns, generated columns and column invariants are
      // rules a writer must apply: this writer applies none of them.
      for (const char* key : {"delta.columnMapping.physicalName", "delta.generationExpression", "delta.invariants"}) {
        if (field["metadata"].HasMember(key)) {
          return arrow::Status::Invalid("column \"", field["name"].GetString(), "\" has ", key,
                                        ", which this writer cannot honour");
        }
      }
    }
    out.emplace(field["name"].GetString(), std::move(parsed));
  }
  return out;
}

// One column's null count and bounds over a file's batches.
struct ColumnStats {
  int64_t nulls = 0;
  bool any = false;
  // Strings keep views into the batches' buffers, which outlive the computation.
  std::string_view min_text, max_text;
  int64_t min_number = 0, max_number = 0;
};

void AccumulateText(ColumnStats* stats, std::string_view value) {
  if (!stats->any) {
    stats->min_text = stats->max_text = value;
    stats->any = true;
    return;
  }
  if (value < stats->min_text) stats->min_text = value;
  if (value > stats->max_text) stats->max_text = value;
}

void AccumulateNumber(ColumnStats* stats, int64_t value) {
  if (!stats->any) {
    stats->min_number = stats->max_number = value;
    stats->any = true;
    return;
  }
  if (value < stats->min_number) stats->min_number = value;
  if (value > stats->max_number) stats->max_number = value;
}

// Folds every valid value of a typed array into the stats with `add`.
template <typename ArrayType, typename Add>
void AccumulateValid(const arrow::Array& array, ColumnStats* stats, Add add) {
  const auto& typed = static_cast<const ArrayType&>(array);
  for (int64_t i = 0; i < typed.length(); ++i) {
    if (typed.IsValid(i)) add(stats, typed.GetView(i));
  }
}

arrow::Status Accumulate(const arrow::Array& array, ColumnStats* stats) {
  stats->nulls += array.null_count();
  switch (array.type_id()) {
    case arrow::Type::STRING:
      AccumulateValid<arrow::StringArray>(array, stats, AccumulateText);
      return arrow::Status::OK();
    case arrow::Type::DICTIONARY: {
      const auto& dictionary_array = static_cast<const arrow::DictionaryArray&>(array);
      const auto& values = static_cast<const arrow::StringArray&>(*dictionary_array.dictionary());
      AccumulateValid<arrow::Int32Array>(*dictionary_array.indices(), stats,
                                         [&values](ColumnStats* into, int32_t index) {
                                           AccumulateText(into, values.GetView(index));
                                         });
      return arrow::Status::OK();
    }
    case arrow::Type::INT32:
      AccumulateValid<arrow::Int32Array>(array, stats, AccumulateNumber);
      return arrow::Status::OK();
    case arrow::Type::DATE32:
      AccumulateValid<arrow::Date32Array>(array, stats, AccumulateNumber);
      return arrow::Status::OK();
    case arrow::Type::INT64:
      AccumulateValid<arrow::Int64Array>(array, stats, AccumulateNumber);
      return arrow::Status::OK();
    case arrow::Type::TIMESTAMP:
      AccumulateValid<arrow::TimestampArray>(array, stats, AccumulateNumber);
      return arrow::Status::OK();
    default:
      return arrow::Status::NotImplemented("no Delta stats for a column of type ", array.type()->ToString());
  }
}

void WriteBound(JsonWriter& writer, arrow::Type::type type, std::string_view text, int64_t number) {
  switch (type) {
    case arrow::Type::STRING:
    case arrow::Type::DICTIONARY:
      writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
      return;
    case arrow::Type::TIMESTAMP: {
      const std::string formatted = FormatStatsTimestamp(number);
      writer.String(formatted.data(), static_cast<rapidjson::SizeType>(formatted.size()));
      return;
    }
    case arrow::Type::DATE32: {
      const std::string formatted = FormatDate(number * kSecondsPerDay);
      writer.String(formatted.data(), static_cast<rapidjson::SizeType>(formatted.size()));
      return;
    }
    default:
      writer.Int64(number);
      return;
  }
}

}  // namespace

std::string TableSchemaString() {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("type");
  writer.String("struct");
  writer.Key("fields");
  writer.StartArray();
  for (const ColumnSpec& spec : TableColumns()) {
    writer.StartObject();
    writer.Key("name");
    writer.String(spec.name.data(), static_cast<rapidjson::SizeType>(spec.name.size()));
    writer.Key("type");
    const std::string_view type = DeltaTypeOf(spec.arrow);
    writer.String(type.data(), static_cast<rapidjson::SizeType>(type.size()));
    writer.Key("nullable");
    writer.Bool(spec.nullable);
    writer.Key("metadata");
    writer.StartObject();
    writer.EndObject();
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::vector<std::string> PartitionColumns(DateColumn date_column) {
  if (date_column == DateColumn::kInPath) return {kPartitionColumn};
  return {};
}

arrow::Status CheckTableFits(const Metadata& metadata, DateColumn date_column) {
  if (metadata.partition_columns != PartitionColumns(date_column)) {
    const auto name = [](const std::vector<std::string>& columns) {
      std::string out = "[";
      for (size_t i = 0; i < columns.size(); ++i) out += (i ? ", " : "") + columns[i];
      return out + "]";
    };
    return arrow::Status::Invalid("the table is partitioned by ", name(metadata.partition_columns),
                                  ", the events by ", name(PartitionColumns(date_column)),
                                  " (--partition-by ", date_column == DateColumn::kInPath ? "event_date" : "none", ")");
  }
  ARROW_ASSIGN_OR_RAISE(auto fields, ParseSchemaString(metadata.schema_string));
  for (const ColumnSpec& spec : TableColumns()) {
    auto field = fields.find(std::string(spec.name));
    if (field == fields.end()) return arrow::Status::Invalid("the table has no column \"", spec.name, "\"");
    const std::string_view wanted = DeltaTypeOf(spec.arrow);
    if (field->second.type != wanted) {
      return arrow::Status::Invalid("column \"", spec.name, "\" is ",
                                    field->second.type.empty() ? "a nested type" : field->second.type,
                                    ", the events need ", wanted);
    }
    if (spec.nullable && !field->second.nullable) {
      return arrow::Status::Invalid("column \"", spec.name, "\" is not nullable, but events can have no ", spec.name);
    }
    fields.erase(field);
  }
  for (const auto& [name, field] : fields) {
    if (!field.nullable) {
      return arrow::Status::Invalid("the table has a column \"", name, "\" that is not nullable and that events do not have");
    }
  }
  return arrow::Status::OK();
}

arrow::Status CheckWritable(const Protocol& protocol, const Metadata& metadata) {
  if (protocol.min_reader_version > 1 || protocol.min_writer_version > 2 || !protocol.reader_features.empty() ||
      !protocol.writer_features.empty()) {
    std::string features;
    for (const auto& feature : protocol.writer_features) features += (features.empty() ? "" : ", ") + feature;
    for (const auto& feature : protocol.reader_features) {
      if (features.find(feature) == std::string::npos) features += (features.empty() ? "" : ", ") + feature;
    }
    return arrow::Status::Invalid("the table needs Delta protocol reader ", protocol.min_reader_version, " / writer ",
                                  protocol.min_writer_version, features.empty() ? "" : " (features: " + features + ")",
                                  "; this writer writes reader 1 / writer 2 tables only");
  }
  for (const auto& [key, value] : metadata.configuration) {
    if (key.starts_with("delta.constraints.")) {
      return arrow::Status::Invalid("the table has the CHECK constraint ", key, ", which this writer cannot enforce");
    }
    if (key == "delta.appendOnly" && value != "true" && value != "false") {
      return arrow::Status::Invalid("the table's delta.appendOnly is \"", value, "\"");
    }
  }
  return arrow::Status::OK();
}

std::string FormatStatsTimestamp(int64_t micros) {
  const int64_t seconds = FloorDiv(micros, 1'000'000);
  const int64_t fraction = micros - seconds * 1'000'000;
  char text[40];
  FormatTimestamp(seconds, text);
  text[10] = 'T';
  std::snprintf(text + kTimestampChars, sizeof(text) - kTimestampChars, ".%06dZ", static_cast<int>(fraction));
  return text;
}

arrow::Status FileStatsBuilder::Add(const arrow::RecordBatch& batch) {
  if (columns_.empty()) {
    for (const auto& field : batch.schema()->fields()) {
      Column column;
      column.name = field->name();
      column.type = field->type()->id();
      columns_.push_back(std::move(column));
    }
  }
  if (static_cast<size_t>(batch.num_columns()) != columns_.size()) {
    return arrow::Status::Invalid("a data file's batches have different columns");
  }
  rows_ += batch.num_rows();
  for (int c = 0; c < batch.num_columns(); ++c) {
    // Folded with views into this batch's buffers, then the bounds copied once per batch: the
    // batch may be gone before Finish.
    ColumnStats stats;
    ARROW_RETURN_NOT_OK(Accumulate(*batch.column(c), &stats));
    Column& column = columns_[static_cast<size_t>(c)];
    column.nulls += stats.nulls;
    if (!stats.any) continue;
    if (!column.any || stats.min_text < column.min_text) column.min_text = stats.min_text;
    if (!column.any || stats.max_text > column.max_text) column.max_text = stats.max_text;
    if (!column.any || stats.min_number < column.min_number) column.min_number = stats.min_number;
    if (!column.any || stats.max_number > column.max_number) column.max_number = stats.max_number;
    column.any = true;
  }
  return arrow::Status::OK();
}

arrow::Result<std::string> FileStatsBuilder::Finish() const {
  if (columns_.empty() || rows_ == 0) return arrow::Status::Invalid("a data file without rows");
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("numRecords");
  writer.Int64(rows_);
  for (const char* bound : {"minValues", "maxValues"}) {
    writer.Key(bound);
    writer.StartObject();
    const bool is_min = bound[1] == 'i';
    for (const Column& column : columns_) {
      // A column with no value in the file has no bound: its nullCount says so.
      if (!column.any) continue;
      writer.Key(column.name.c_str());
      WriteBound(writer, column.type, is_min ? column.min_text : column.max_text,
                 is_min ? column.min_number : column.max_number);
    }
    writer.EndObject();
  }
  writer.Key("nullCount");
  writer.StartObject();
  for (const Column& column : columns_) {
    writer.Key(column.name.c_str());
    writer.Int64(column.nulls);
  }
  writer.EndObject();
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

arrow::Result<std::string> FileStats(const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
  FileStatsBuilder builder;
  for (const auto& batch : batches) ARROW_RETURN_NOT_OK(builder.Add(*batch));
  return builder.Finish();
}

}  // namespace clickstream::sink::delta
