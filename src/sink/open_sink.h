// Chooses the sink an --output names: a plain path is a local Parquet dataset (or, with
// TableFormat::kDelta, a Delta table), s3://… a Parquet dataset in an object store, postgresql://… a
// PostgreSQL table.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <arrow/result.h>

#include "event/landed_schema.h"
#include "sink/sink.h"

namespace clickstream::sink {

// What a directory or s3:// output holds: a Parquet dataset whose file names record the progress,
// or a Delta Lake table whose log does.
enum class TableFormat { kParquetDataset, kDelta };

struct SinkOptions {
  std::string output;  // a directory, s3://bucket/prefix or postgresql://user@host:port/db
  std::string topic;
  std::string group;
  DateColumn date_column = DateColumn::kInPath;
  std::string table;  // postgresql:// only: TABLE or SCHEMA.TABLE (empty: clickstream_events)
  TableFormat format = TableFormat::kParquetDataset;
  int64_t delta_checkpoint_interval = 10;  // kDelta: a checkpoint every this many versions
};

// Opens and checks the destination. Anything that makes it unusable (unknown scheme, unreachable
// server, missing bucket, wrong credentials, no permission) is an Invalid status with one line
// that names the destination and the cause.
arrow::Result<std::unique_ptr<Sink>> OpenSink(const SinkOptions& options);

}  // namespace clickstream::sink
