// How a compacted file is written, for the Parquet dataset's compactor and the Delta table's: the
// landed files' per-column encodings at a higher zstd level, row groups of kCompactedRowGroupRows
// rows, and one dictionary per row group for each dictionary column, fed batch by batch so that
// memory stays at about one row group whatever the file's size.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <arrow/api.h>
#include <arrow/io/interfaces.h>
#include <arrow/util/key_value_metadata.h>
#include <parquet/arrow/writer.h>

namespace clickstream::sink {

// Large enough for zstd and the dictionaries to work on long runs, small enough that a reader
// (DuckDB, Spark) still splits a 128 MB file over several threads.
inline constexpr int64_t kCompactedRowGroupRows = int64_t{512} << 10;
// Compaction runs offline, so it can spend CPU the consumer cannot. Measured on the demo data's
// 834 compacted files at levels 1 / 9 / 12 / 15: 33.2 / 31.1 / 30.1 / 28.7 MB, level 12 costing
// about 3 s of CPU more than level 1 for the whole run and level 15 about 6 s (19: no smaller than
// 15, 7 s more). Readers decompress every level at the same speed.
inline constexpr int kCompactedZstdLevel = 12;

class CompactedFileWriter {
 public:
  // store_schema: keep the Arrow schema in the file (the dataset's files do, so readers get the
  // dictionary and timezone types back; a Delta table's do not, its log holds the types).
  // metadata: the Parquet key-value metadata, or nullptr.
  static arrow::Result<std::unique_ptr<CompactedFileWriter>> Open(
      std::shared_ptr<arrow::Schema> schema, std::shared_ptr<arrow::io::OutputStream> sink, bool store_schema,
      std::shared_ptr<const arrow::KeyValueMetadata> metadata);

  // Adds rows of the writer's schema; full row groups are written as they fill.
  arrow::Status Add(std::shared_ptr<arrow::RecordBatch> batch);
  // Writes the last row group and the footer. The sink stays open for the caller.
  arrow::Status Close();

 private:
  CompactedFileWriter(std::shared_ptr<arrow::Schema> schema, std::unique_ptr<parquet::arrow::FileWriter> writer)
      : schema_(std::move(schema)), writer_(std::move(writer)) {}
  arrow::Status Flush();

  std::shared_ptr<arrow::Schema> schema_;
  std::unique_ptr<parquet::arrow::FileWriter> writer_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches_;
  int64_t rows_ = 0;
};

}  // namespace clickstream::sink
