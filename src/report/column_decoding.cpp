#include "report/column_decoding.h"

#include "event/event.h"
#include "event/time_units.h"

namespace clickstream::report {

namespace {

template <typename IndexArray>
void MapRows(const arrow::Array& indices, const std::vector<int32_t>& mapping, int32_t null_value,
             std::vector<int32_t>* out) {
  const auto& typed = static_cast<const IndexArray&>(indices);
  const auto* values = typed.raw_values();
  const bool has_nulls = typed.null_count() > 0;
  for (int64_t i = 0; i < typed.length(); ++i) {
    (*out)[i] = has_nulls && typed.IsNull(i) ? null_value : mapping[static_cast<size_t>(values[i])];
  }
}

}  // namespace

bool IsText(const arrow::DataType& type) {
  return type.id() == arrow::Type::STRING || type.id() == arrow::Type::LARGE_STRING;
}

bool IsTextEnumeration(const arrow::DataType& type) {
  if (IsText(type)) return true;
  if (type.id() != arrow::Type::DICTIONARY) return false;
  return IsText(*static_cast<const arrow::DictionaryType&>(type).value_type());
}

bool IsTimestamp(const arrow::DataType& type) { return type.id() == arrow::Type::TIMESTAMP; }

arrow::Result<std::shared_ptr<arrow::Array>> FindColumn(const arrow::RecordBatch& batch, const char* name,
                                                        bool (*type_ok)(const arrow::DataType&),
                                                        const char* expected) {
  std::shared_ptr<arrow::Array> column = batch.GetColumnByName(name);
  if (column == nullptr) return arrow::Status::Invalid("column '", name, "' is missing");
  if (!type_ok(*column->type())) {
    return arrow::Status::Invalid("column '", name, "' has type ", column->type()->ToString(), ", expected ",
                                  expected);
  }
  return column;
}

std::string_view TextAt(const arrow::Array& array, int64_t i) {
  if (array.type_id() == arrow::Type::LARGE_STRING) {
    return static_cast<const arrow::LargeStringArray&>(array).GetView(i);
  }
  return static_cast<const arrow::StringArray&>(array).GetView(i);
}

arrow::Status MapDictionaryRows(const arrow::DictionaryArray& array, const std::vector<int32_t>& mapping,
                                int32_t null_value, std::vector<int32_t>* out) {
  out->resize(array.length());
  const arrow::Array& indices = *array.indices();
  switch (indices.type_id()) {
    case arrow::Type::INT8:
      MapRows<arrow::Int8Array>(indices, mapping, null_value, out);
      return arrow::Status::OK();
    case arrow::Type::INT16:
      MapRows<arrow::Int16Array>(indices, mapping, null_value, out);
      return arrow::Status::OK();
    case arrow::Type::INT32:
      MapRows<arrow::Int32Array>(indices, mapping, null_value, out);
      return arrow::Status::OK();
    case arrow::Type::INT64:
      MapRows<arrow::Int64Array>(indices, mapping, null_value, out);
      return arrow::Status::OK();
    default:
      return arrow::Status::Invalid("unsupported dictionary index type ", indices.type()->ToString());
  }
}

arrow::Status EventTypesOf(const arrow::Array& array, std::vector<int32_t>* types) {
  auto type_of = [](std::string_view name) {
    auto type = ParseEventType(name);
    return type ? static_cast<int32_t>(*type) : -1;
  };
  if (array.type_id() == arrow::Type::DICTIONARY) {
    const auto& encoded = static_cast<const arrow::DictionaryArray&>(array);
    const arrow::Array& dictionary = *encoded.dictionary();
    std::vector<int32_t> mapping;
    for (int64_t i = 0; i < dictionary.length(); ++i) {
      mapping.push_back(dictionary.IsNull(i) ? -1 : type_of(TextAt(dictionary, i)));
    }
    return MapDictionaryRows(encoded, mapping, -1, types);
  }
  types->resize(array.length());
  for (int64_t row = 0; row < array.length(); ++row) {
    (*types)[row] = array.IsNull(row) ? -1 : type_of(TextAt(array, row));
  }
  return arrow::Status::OK();
}

int64_t UnitsPerDay(arrow::TimeUnit::type unit) {
  switch (unit) {
    case arrow::TimeUnit::SECOND:
      return kSecondsPerDay;
    case arrow::TimeUnit::MILLI:
      return kSecondsPerDay * 1'000;
    case arrow::TimeUnit::MICRO:
      return kSecondsPerDay * 1'000'000;
    case arrow::TimeUnit::NANO:
      return kSecondsPerDay * 1'000'000'000;
  }
  return kSecondsPerDay * 1'000'000;
}

}  // namespace clickstream::report
