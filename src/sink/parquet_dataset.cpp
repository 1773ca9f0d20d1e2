#include "sink/parquet_dataset.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <set>
#include <vector>

#include <arrow/io/memory.h>
#include <arrow/util/key_value_metadata.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include "sink/durable_file.h"
#include "sink/landed_files.h"

namespace clickstream::sink {

arrow::Result<std::shared_ptr<arrow::Buffer>> EncodeParquet(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                            std::shared_ptr<const arrow::KeyValueMetadata> metadata) {
  const auto properties = parquet::WriterProperties::Builder()
                              .compression(arrow::Compression::ZSTD)
                              ->enable_statistics()
                              ->enable_dictionary()
                              ->max_row_group_length(std::max<int64_t>(batch->num_rows(), 1))
                              ->build();
  const auto arrow_properties = parquet::ArrowWriterProperties::Builder().store_schema()->build();
  const auto with_metadata = batch->ReplaceSchemaMetadata(std::move(metadata));
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create(64 * 1024));
  ARROW_ASSIGN_OR_RAISE(auto writer, parquet::arrow::FileWriter::Open(*with_metadata->schema(),
                                                                      arrow::default_memory_pool(), sink,
                                                                      properties, arrow_properties));
  ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*with_metadata));
  ARROW_RETURN_NOT_OK(writer->Close());
  return sink->Finish();
}

ParquetDatasetWriter::ParquetDatasetWriter(DatasetOptions options) : options_(std::move(options)) {}

std::string ParquetDatasetWriter::DirectoryOf(int32_t day) const {
  if (options_.date_column == DateColumn::kInFile) return options_.output_dir;
  return (std::filesystem::path(options_.output_dir) / EventDateDirectory(day)).string();
}

arrow::Result<WrittenFiles> ParquetDatasetWriter::Write(const PartitionBatchData& batch,
                                                        const std::string& write_time) const {
  ARROW_ASSIGN_OR_RAISE(auto written, WriteGroup({batch}, write_time));
  return std::move(written.front());
}

namespace {

// fsync blocks in the file system, not the CPU, and ext4 folds the syncs that wait at the same
// time into one journal commit: that is what makes a group commit cheap.
constexpr size_t kMaxSyncThreads = 8;

// Runs task(i) for every i in [0, count) on up to kMaxSyncThreads threads.
arrow::Status RunConcurrently(size_t count, const std::function<arrow::Status(size_t)>& task) {
  if (count == 0) return arrow::Status::OK();
  if (count == 1) return task(0);
  const size_t threads = std::min(count, kMaxSyncThreads);
  std::vector<std::future<arrow::Status>> results;
  results.reserve(threads);
  for (size_t t = 0; t < threads; ++t) {
    results.push_back(std::async(std::launch::async, [&task, t, threads, count] {
      arrow::Status status;
      for (size_t i = t; i < count; i += threads) status &= task(i);
      return status;
    }));
  }
  arrow::Status status;
  for (auto& result : results) status &= result.get();
  return status;
}

}  // namespace

arrow::Result<std::vector<WrittenFiles>> ParquetDatasetWriter::WriteGroup(
    const std::vector<PartitionBatchData>& batches, const std::string& write_time) const {
  std::vector<WrittenFiles> written(batches.size());
  std::vector<std::unique_ptr<StagedFile>> files;
  std::vector<size_t> batch_of_file;
  // The n-th batch of a partition in this group is in generation n: generations are renamed and
  // made durable one after the other.
  std::vector<int> generation_of_batch(batches.size());
  std::map<int32_t, int> batches_seen;
  int generations = 0;
  std::set<std::string> ensured_directories;
  for (size_t b = 0; b < batches.size(); ++b) {
    const PartitionBatchData& batch = batches[b];
    generation_of_batch[b] = batches_seen[batch.partition]++;
    generations = std::max(generations, generation_of_batch[b] + 1);
    LandedFileName name;
    name.write_time = write_time;
    name.partition = batch.partition;
    name.first_offset = batch.first_offset;
    name.last_offset = batch.last_offset;
    auto stage = [&](const std::string& directory, const arrow::Buffer& contents) -> arrow::Status {
      if (ensured_directories.insert(directory).second) ARROW_RETURN_NOT_OK(EnsureDirectory(directory));
      const std::string file_name = FormatLandedFileName(name);
      ARROW_ASSIGN_OR_RAISE(auto file, StagedFile::Create(directory, TempFileName(file_name), file_name, contents));
      written[b].paths.push_back(file->final_path());
      written[b].bytes += contents.size();
      files.push_back(std::move(file));
      batch_of_file.push_back(b);
      return arrow::Status::OK();
    };
    if (batch.rows_by_day.empty()) {
      // Only dead letters: a marker keeps the resume point past them.
      name.kind = LandedFileKind::kMarker;
      ARROW_RETURN_NOT_OK(stage(options_.output_dir, arrow::Buffer("")));
      written[b].bytes = 0;
      continue;
    }
    name.parts = static_cast<int>(batch.rows_by_day.size());
    for (size_t i = 0; i < batch.rows_by_day.size(); ++i) {
      const auto& [day, rows] = batch.rows_by_day[i];
      name.part = static_cast<int>(i) + 1;
      auto metadata = arrow::key_value_metadata(
          {metadata_key::kTopic, metadata_key::kPartition, metadata_key::kFirstOffset, metadata_key::kLastOffset,
           metadata_key::kPart},
          {options_.topic, std::to_string(batch.partition), std::to_string(batch.first_offset),
           std::to_string(batch.last_offset), std::to_string(name.part) + "/" + std::to_string(name.parts)});
      ARROW_ASSIGN_OR_RAISE(auto contents, EncodeParquet(rows, std::move(metadata)));
      ARROW_RETURN_NOT_OK(stage(DirectoryOf(day), *contents));
    }
  }
  ARROW_RETURN_NOT_OK(RunConcurrently(files.size(), [&files](size_t i) { return files[i]->Sync(); }));
  for (int generation = 0; generation < generations; ++generation) {
    std::set<std::string> directories;
    for (size_t i = 0; i < files.size(); ++i) {
      if (generation_of_batch[batch_of_file[i]] != generation) continue;
      ARROW_RETURN_NOT_OK(files[i]->Publish());
      directories.insert(files[i]->directory());
    }
    const std::vector<std::string> to_sync(directories.begin(), directories.end());
    ARROW_RETURN_NOT_OK(RunConcurrently(to_sync.size(), [&to_sync](size_t i) { return SyncDirectory(to_sync[i]); }));
  }
  return written;
}

}  // namespace clickstream::sink
