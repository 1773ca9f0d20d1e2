// The Parquet dataset writer: turns one consumed batch of one Kafka partition into durable,
// atomically renamed Parquet files (one per event_date with Hive-style directories), or into a
// marker file when the batch held only dead letters.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <arrow/api.h>

#include "event/landed_schema.h"

namespace clickstream::sink {

// Keys of the Parquet key-value metadata every landed file carries.
namespace metadata_key {
inline constexpr char kTopic[] = "clickstream.kafka.topic";
inline constexpr char kPartition[] = "clickstream.kafka.partition";
inline constexpr char kFirstOffset[] = "clickstream.kafka.first_offset";
inline constexpr char kLastOffset[] = "clickstream.kafka.last_offset";
inline constexpr char kPart[] = "clickstream.batch.part";  // "k/n"
}  // namespace metadata_key

struct DatasetOptions {
  std::string output_dir;
  DateColumn date_column = DateColumn::kInPath;  // kInPath: event_date=YYYY-MM-DD/ directories
  std::string topic;                             // recorded in each file's metadata
};

// One partition's batch, ready to land. Rows are grouped by event date (days since the epoch);
// with DateColumn::kInFile there is one group whose day is ignored.
struct PartitionBatchData {
  int32_t partition = 0;
  int64_t first_offset = 0;
  int64_t last_offset = 0;
  std::vector<std::pair<int32_t, std::shared_ptr<arrow::RecordBatch>>> rows_by_day;
};

struct WrittenFiles {
  std::vector<std::string> paths;
  int64_t bytes = 0;
};

// zstd, statistics and dictionaries on; the Arrow schema is stored so readers get the
// dictionary and timestamp-with-zone types back. One row group per file.
arrow::Result<std::shared_ptr<arrow::Buffer>> EncodeParquet(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                            std::shared_ptr<const arrow::KeyValueMetadata> metadata);

class ParquetDatasetWriter {
 public:
  explicit ParquetDatasetWriter(DatasetOptions options);

  // Writes every part durably. The same batch with the same write_time gives the same file
  // names, so a retry after a failed attempt replaces what the attempt left.
  arrow::Result<WrittenFiles> Write(const PartitionBatchData& batch, const std::string& write_time) const;

  // Writes several batches as one group commit, returning their files in the same order: every
  // file is synced side by side, renamed, and each distinct directory synced once, which costs a
  // few journal commits for the whole group instead of two per file. Batches of one partition
  // must be in offset order; a later one is only renamed once the earlier ones are durable, so
  // a crash can leave a batch incomplete (which recovery redoes) but never skip one.
  arrow::Result<std::vector<WrittenFiles>> WriteGroup(const std::vector<PartitionBatchData>& batches,
                                                      const std::string& write_time) const;

  const DatasetOptions& options() const { return options_; }

 private:
  std::string DirectoryOf(int32_t day) const;

  DatasetOptions options_;
};

}  // namespace clickstream::sink
