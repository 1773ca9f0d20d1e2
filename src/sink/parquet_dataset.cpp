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

#include "event/landed_schema.h"
#include "sink/durable_file.h"
#include "sink/landed_files.h"

namespace clickstream::sink {

arrow::Result<std::shared_ptr<arrow::Buffer>> EncodeParquet(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                            std::shared_ptr<const arrow::KeyValueMetadata> metadata) {
  parquet::WriterProperties::Builder builder;
  builder.compression(arrow::Compression::ZSTD)
      ->enable_statistics()
      ->enable_dictionary()
      ->max_row_group_length(std::max<int64_t>(batch->num_rows(), 1));
  // Each column's encoding, and why, is in the field table (event/fields.h); this applies it.
  const DateColumn date_column =
      batch->schema()->GetFieldIndex(column::kEventDate) >= 0 ? DateColumn::kInFile : DateColumn::kInPath;
  for (const ColumnSpec& spec : LandedColumns(date_column)) {
    const std::string name(spec.name);
    switch (spec.encoding) {
      case ParquetEncoding::kDictionary:
        break;
      case ParquetEncoding::kPlain:
        builder.disable_dictionary(name);
        break;
      case ParquetEncoding::kDeltaBinaryPacked:
        builder.disable_dictionary(name)->encoding(name, parquet::Encoding::DELTA_BINARY_PACKED);
        break;
    }
  }
  const auto properties = builder.build();
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
// Encoding is CPU-bound and the consumer's own thread keeps one core busy decoding; a second
// encoder uses the time that thread spends waiting for the broker or for a full pipeline.
constexpr size_t kEncodeThreads = 2;

// Runs task(i) for every i in [0, count) on up to max_threads threads.
arrow::Status RunConcurrently(size_t count, size_t max_threads, const std::function<arrow::Status(size_t)>& task) {
  if (count == 0) return arrow::Status::OK();
  if (count == 1 || max_threads <= 1) {
    arrow::Status status;
    for (size_t i = 0; i < count; ++i) status &= task(i);
    return status;
  }
  const size_t threads = std::min(count, max_threads);
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
  struct Part {
    size_t batch = 0;
    std::string directory;
    std::string file_name;
    std::shared_ptr<arrow::RecordBatch> rows;  // null for a marker
    std::shared_ptr<const arrow::KeyValueMetadata> metadata;
    std::shared_ptr<arrow::Buffer> contents;
  };
  std::vector<Part> parts;
  // The n-th batch of a partition in this group is in generation n: generations are renamed and
  // made durable one after the other.
  std::vector<int> generation_of_batch(batches.size());
  std::map<int32_t, int> batches_seen;
  int generations = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    const PartitionBatchData& batch = batches[b];
    generation_of_batch[b] = batches_seen[batch.partition]++;
    generations = std::max(generations, generation_of_batch[b] + 1);
    LandedFileName name;
    name.write_time = write_time;
    name.partition = batch.partition;
    name.first_offset = batch.first_offset;
    name.last_offset = batch.last_offset;
    if (batch.rows_by_day.empty()) {
      // Only dead letters: a marker keeps the resume point past them.
      name.kind = LandedFileKind::kMarker;
      parts.push_back(Part{b, options_.output_dir, FormatLandedFileName(name), nullptr, nullptr,
                           std::make_shared<arrow::Buffer>("")});
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
      parts.push_back(Part{b, DirectoryOf(day), FormatLandedFileName(name), rows, std::move(metadata), nullptr});
    }
  }
  ARROW_RETURN_NOT_OK(RunConcurrently(parts.size(), kEncodeThreads, [&parts](size_t i) -> arrow::Status {
    Part& part = parts[i];
    if (part.contents) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(part.contents, EncodeParquet(part.rows, part.metadata));
    return arrow::Status::OK();
  }));

  std::vector<WrittenFiles> written(batches.size());
  std::vector<std::unique_ptr<StagedFile>> files;
  std::set<std::string> ensured_directories;
  for (const Part& part : parts) {
    if (ensured_directories.insert(part.directory).second) ARROW_RETURN_NOT_OK(EnsureDirectory(part.directory));
    ARROW_ASSIGN_OR_RAISE(auto file, StagedFile::Create(part.directory, TempFileName(part.file_name), part.file_name,
                                                        *part.contents));
    written[part.batch].paths.push_back(file->final_path());
    written[part.batch].bytes += part.contents->size();
    files.push_back(std::move(file));
  }
  ARROW_RETURN_NOT_OK(
      RunConcurrently(files.size(), kMaxSyncThreads, [&files](size_t i) { return files[i]->Sync(); }));
  for (int generation = 0; generation < generations; ++generation) {
    std::set<std::string> directories;
    for (size_t i = 0; i < files.size(); ++i) {
      if (generation_of_batch[parts[i].batch] != generation) continue;
      ARROW_RETURN_NOT_OK(files[i]->Publish());
      directories.insert(files[i]->directory());
    }
    const std::vector<std::string> to_sync(directories.begin(), directories.end());
    ARROW_RETURN_NOT_OK(RunConcurrently(to_sync.size(), kMaxSyncThreads,
                                        [&to_sync](size_t i) { return SyncDirectory(to_sync[i]); }));
  }
  return written;
}

}  // namespace clickstream::sink
