#include "sink/parquet/parquet_dataset.h"

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
#include "sink/parquet/concurrency.h"
#include "sink/parquet/landed_files.h"

namespace clickstream::sink {

std::shared_ptr<parquet::WriterProperties> LandedWriterProperties(const arrow::Schema& schema,
                                                                  int64_t max_row_group_rows, int zstd_level) {
  parquet::WriterProperties::Builder builder;
  builder.compression(arrow::Compression::ZSTD)
      ->compression_level(zstd_level)
      ->enable_statistics()
      ->enable_dictionary()
      ->max_row_group_length(std::max<int64_t>(max_row_group_rows, 1));
  // Each column's encoding, and why, is in the field table (event/fields.h); this applies it.
  for (const auto& field : schema.fields()) {
    const ColumnSpec* spec = FindLandedColumn(field->name());
    if (spec == nullptr) continue;
    const std::string& name = field->name();
    switch (spec->encoding) {
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
  return builder.build();
}

arrow::Result<std::shared_ptr<arrow::Buffer>> EncodeParquet(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                            std::shared_ptr<const arrow::KeyValueMetadata> metadata) {
  const auto properties = LandedWriterProperties(*batch->schema(), batch->num_rows());
  const auto arrow_properties = parquet::ArrowWriterProperties::Builder().store_schema()->build();
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create(64 * 1024));
  // The facts go into the Parquet key-value metadata once: a schema that carried them would also
  // copy them into the stored Arrow schema (about 460 bytes more in every small landed file).
  ARROW_ASSIGN_OR_RAISE(auto writer, parquet::arrow::FileWriter::Open(*batch->schema()->RemoveMetadata(),
                                                                      arrow::default_memory_pool(), sink,
                                                                      properties, arrow_properties));
  ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
  if (metadata) ARROW_RETURN_NOT_OK(writer->AddKeyValueMetadata(std::move(metadata)));
  ARROW_RETURN_NOT_OK(writer->Close());
  return sink->Finish();
}

ParquetDatasetWriter::ParquetDatasetWriter(DatasetOptions options, DatasetStore* store)
    : options_(std::move(options)), store_(store) {}

std::string ParquetDatasetWriter::DirectoryOf(int32_t day) const {
  if (options_.date_column == DateColumn::kInFile) return "";
  return EventDateDirectory(day) + "/";
}

namespace {

// Encoding is CPU-bound and the consumer's own thread keeps one core busy decoding; a second
// encoder uses the time that thread spends waiting for the broker or for a full pipeline.
constexpr size_t kEncodeThreads = 2;

}  // namespace

arrow::Result<std::vector<WrittenFiles>> ParquetDatasetWriter::WriteGroup(
    const std::vector<PartitionBatchData>& batches, const std::string& write_time) const {
  struct Part {
    size_t batch = 0;
    int generation = 0;
    std::string path;
    std::shared_ptr<arrow::RecordBatch> rows;  // null for a marker
    std::shared_ptr<const arrow::KeyValueMetadata> metadata;
    std::shared_ptr<arrow::Buffer> contents;
  };
  std::vector<Part> parts;
  // The n-th batch of a partition in this group is in generation n: generations are published
  // and made durable one after the other.
  std::map<int32_t, int> batches_seen;
  int generations = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    const PartitionBatchData& batch = batches[b];
    const int generation = batches_seen[batch.partition]++;
    generations = std::max(generations, generation + 1);
    LandedFileName name;
    name.write_time = write_time;
    name.partition = batch.partition;
    name.first_offset = batch.first_offset;
    name.last_offset = batch.last_offset;
    if (batch.rows_by_day.empty()) {
      // Only dead letters: a marker keeps the resume point past them.
      name.kind = LandedFileKind::kMarker;
      parts.push_back(Part{b, generation, FormatLandedFileName(name), nullptr, nullptr,
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
      parts.push_back(
          Part{b, generation, DirectoryOf(day) + FormatLandedFileName(name), rows, std::move(metadata), nullptr});
    }
  }
  ARROW_RETURN_NOT_OK(RunConcurrently(parts.size(), kEncodeThreads, [&parts](size_t i) -> arrow::Status {
    Part& part = parts[i];
    if (part.contents) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(part.contents, EncodeParquet(part.rows, part.metadata));
    return arrow::Status::OK();
  }));

  std::vector<WrittenFiles> written(batches.size());
  std::vector<std::vector<NewFile>> to_publish(static_cast<size_t>(generations));
  for (const Part& part : parts) {
    written[part.batch].paths.push_back(part.path);
    written[part.batch].bytes += part.contents->size();
    to_publish[static_cast<size_t>(part.generation)].push_back(NewFile{part.path, part.contents});
  }
  ARROW_RETURN_NOT_OK(store_->Publish(to_publish));
  return written;
}

ParquetDatasetSink::ParquetDatasetSink(DatasetOptions options, std::unique_ptr<DatasetStore> store)
    : store_(std::move(store)), writer_(std::move(options), store_.get()) {}

arrow::Result<std::map<int32_t, PartitionResume>> ParquetDatasetSink::Recover(const std::set<int32_t>& partitions) {
  ARROW_ASSIGN_OR_RAISE(auto recoveries, RecoverPartitions(store_.get(), partitions));
  std::map<int32_t, PartitionResume> resumes;
  for (const auto& [partition, recovery] : recoveries) {
    resumes[partition] = PartitionResume{recovery.resume_offset, recovery.removed_files};
    if (recovery.newest_marker.empty()) {
      markers_.erase(partition);
    } else {
      markers_[partition] = recovery.newest_marker;
    }
  }
  return resumes;
}

arrow::Result<std::vector<LandedBatch>> ParquetDatasetSink::Land(const std::vector<PartitionBatchData>& batches,
                                                                 const std::string& write_time) {
  ARROW_ASSIGN_OR_RAISE(const std::vector<WrittenFiles> written, writer_.WriteGroup(batches, write_time));
  std::vector<LandedBatch> landed;
  landed.reserve(batches.size());
  for (size_t i = 0; i < batches.size(); ++i) {
    const PartitionBatchData& batch = batches[i];
    auto marker = markers_.find(batch.partition);
    if (marker != markers_.end()) {
      // Best effort: a marker left behind is removed by the next recovery scan.
      (void)store_->Remove(marker->second);
      markers_.erase(marker);
    }
    if (batch.rows_by_day.empty()) markers_[batch.partition] = written[i].paths.front();
    landed.push_back(LandedBatch{static_cast<int64_t>(batch.rows_by_day.size()), written[i].bytes});
  }
  return landed;
}

void ParquetDatasetSink::Forget(const std::set<int32_t>& partitions) {
  for (int32_t partition : partitions) markers_.erase(partition);
}

}  // namespace clickstream::sink
