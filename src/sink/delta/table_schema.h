// The events as a Delta table: its schema string, derived from the one field table
// (event/fields.h), the check that an existing table's schema fits the events, and the exact
// per-file statistics readers skip files by.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/api.h>

#include "event/landed_schema.h"
#include "sink/delta/delta_log.h"

namespace clickstream::sink::delta {

// The partition column of the day layout: its value lives in each add's partitionValues, not in
// the data files (as Delta requires).
inline constexpr const char* kPartitionColumn = column::kEventDate;

// {"type":"struct","fields":[{"name":"source_id","type":"string","nullable":false,"metadata":{}},…]}
// with every landed column, event_date included in both layouts, in file order.
std::string TableSchemaString();
std::vector<std::string> PartitionColumns(DateColumn date_column);

// OK when events can be appended to a table of this metadata: every landed column exists with the
// same type, nullable wherever events can be null; any other column is nullable; the partition
// columns are the layout's. Otherwise Invalid naming the first column (or setting) that does not fit.
arrow::Status CheckTableFits(const Metadata& metadata, DateColumn date_column);

// OK when this writer can append to a table of this protocol and configuration: reader 1 / writer
// 2 at most, no table features, and no invariants, constraints or generated columns, which writer 2
// would oblige it to enforce. Otherwise Invalid naming what it cannot honour.
arrow::Status CheckWritable(const Protocol& protocol, const Metadata& metadata);

// The stats of one data file holding these batches (same schema, the landed columns without the
// partition column): {"numRecords":N,"minValues":{…},"maxValues":{…},"nullCount":{…}}. Exact, from
// the values themselves: strings compare bytewise, timestamps are written to the microsecond
// ("2015-07-27T01:02:03.123456Z").
arrow::Result<std::string> FileStats(const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches);

// The same stats folded batch by batch, for a file written a row group at a time and never held
// whole (a compacted file): Add every batch of the file, then Finish.
class FileStatsBuilder {
 public:
  arrow::Status Add(const arrow::RecordBatch& batch);
  arrow::Result<std::string> Finish() const;

 private:
  struct Column {
    std::string name;
    arrow::Type::type type = arrow::Type::NA;
    int64_t nulls = 0;
    bool any = false;
    std::string min_text, max_text;
    int64_t min_number = 0, max_number = 0;
  };
  std::vector<Column> columns_;
  int64_t rows_ = 0;
};

// "2015-07-27T01:02:03.123456Z" for microseconds since the epoch.
std::string FormatStatsTimestamp(int64_t micros);

}  // namespace clickstream::sink::delta
