// The Parquet dataset sink: each consumed batch of a Kafka partition becomes Parquet files (one per
// event_date, in Hive-style directories) or a marker file when it held only dead letters, published
// to a DatasetStore (a local directory or an object store) whose file names record the progress.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <parquet/properties.h>

#include "event/landed_schema.h"
#include "sink/parquet/dataset_store.h"
#include "sink/sink.h"

namespace clickstream::sink {

// Keys of the Parquet key-value metadata every landed file carries.
namespace metadata_key {
inline constexpr char kTopic[] = "clickstream.kafka.topic";
inline constexpr char kPartition[] = "clickstream.kafka.partition";
inline constexpr char kFirstOffset[] = "clickstream.kafka.first_offset";
inline constexpr char kLastOffset[] = "clickstream.kafka.last_offset";
inline constexpr char kPart[] = "clickstream.batch.part";  // "k/n"
// In a compacted file: the batches it holds, "first-last:k/n" each, comma-separated, for tracing.
inline constexpr char kCompactedBatches[] = "clickstream.compacted.batches";
}  // namespace metadata_key

struct DatasetOptions {
  DateColumn date_column = DateColumn::kInPath;  // kInPath: event_date=YYYY-MM-DD/ directories
  std::string topic;                             // recorded in each file's metadata
};

struct WrittenFiles {
  std::vector<std::string> paths;  // relative to the dataset's root
  int64_t bytes = 0;
};

// The writer properties of every landed file: zstd and statistics on, each column's encoding chosen
// for its values, row groups of at most max_row_group_rows. The compactor writes with them too, at
// a higher zstd level.
inline constexpr int kLandedZstdLevel = 1;
std::shared_ptr<parquet::WriterProperties> LandedWriterProperties(const arrow::Schema& schema,
                                                                  int64_t max_row_group_rows,
                                                                  int zstd_level = kLandedZstdLevel);

// zstd and statistics on, each column's encoding chosen for its values; the Arrow schema is stored
// so readers get the dictionary and timestamp-with-zone types back. One row group per file.
arrow::Result<std::shared_ptr<arrow::Buffer>> EncodeParquet(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                            std::shared_ptr<const arrow::KeyValueMetadata> metadata);

// Turns batches into named Parquet files and publishes them to a store.
class ParquetDatasetWriter {
 public:
  ParquetDatasetWriter(DatasetOptions options, DatasetStore* store);

  // Writes several batches as one group commit and returns their files in the same order.
  // Batches of one partition must be in offset order; the store publishes a later one only once
  // the earlier ones are durable, so a crash can leave a batch incomplete (which recovery redoes)
  // but never skip one. The same batches with the same write_time give the same names, so a retry
  // after a failed attempt replaces what the attempt left.
  arrow::Result<std::vector<WrittenFiles>> WriteGroup(const std::vector<PartitionBatchData>& batches,
                                                      const std::string& write_time) const;

 private:
  std::string DirectoryOf(int32_t day) const;

  DatasetOptions options_;
  DatasetStore* store_;
};

// The Parquet dataset as a landing sink: the store's file names record what has landed.
class ParquetDatasetSink final : public Sink {
 public:
  ParquetDatasetSink(DatasetOptions options, std::unique_ptr<DatasetStore> store);

  std::string Describe() const override { return store_->Describe(); }
  arrow::Result<std::map<int32_t, PartitionResume>> Recover(const std::set<int32_t>& partitions) override;
  arrow::Result<std::vector<LandedBatch>> Land(const std::vector<PartitionBatchData>& batches,
                                               const std::string& write_time) override;
  void Forget(const std::set<int32_t>& partitions) override;

  DatasetStore* store() const { return store_.get(); }

 private:
  std::unique_ptr<DatasetStore> store_;
  ParquetDatasetWriter writer_;
  // Per partition, the newest marker file: obsolete (and removed) once a later batch is durable.
  std::map<int32_t, std::string> markers_;
};

}  // namespace clickstream::sink
