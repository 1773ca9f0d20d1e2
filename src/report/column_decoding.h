// Reading the landed columns the funnel needs, whatever physical form a writer chose for them:
// dictionary-encoded or plain strings (32- or 64-bit offsets), timestamps in any unit. Each
// column is decoded whole into a vector of small ids, so the aggregator's row loop never looks at
// Arrow types.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <arrow/api.h>

namespace clickstream::report {

bool IsText(const arrow::DataType& type);
// Text, or a dictionary of text.
bool IsTextEnumeration(const arrow::DataType& type);
bool IsTimestamp(const arrow::DataType& type);

// The batch's column `name`; Invalid naming the column when it is missing or `type_ok` rejects
// its type (`expected` describes the type wanted).
arrow::Result<std::shared_ptr<arrow::Array>> FindColumn(const arrow::RecordBatch& batch, const char* name,
                                                        bool (*type_ok)(const arrow::DataType&),
                                                        const char* expected);

// The value at row i of a string or large_string array.
std::string_view TextAt(const arrow::Array& array, int64_t i);

// Each row's dictionary index mapped through `mapping` (one entry per dictionary value); null
// rows become null_value.
arrow::Status MapDictionaryRows(const arrow::DictionaryArray& array, const std::vector<int32_t>& mapping,
                                int32_t null_value, std::vector<int32_t>* out);

// EventType per row of an event_type column (text or dictionary), -1 for unknown names and nulls.
arrow::Status EventTypesOf(const arrow::Array& array, std::vector<int32_t>* types);

// How many timestamp units make one UTC day.
int64_t UnitsPerDay(arrow::TimeUnit::type unit);

}  // namespace clickstream::report
