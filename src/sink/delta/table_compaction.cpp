#include "sink/delta/table_compaction.h"

#include <algorithm>
#include <memory>
#include <tuple>
#include <utility>

#include <arrow/io/memory.h>
#include <parquet/arrow/reader.h>
#include <parquet/properties.h>

#include "common/crash_point.h"
#include "common/log.h"
#include "event/landed_schema.h"
#include "sink/delta/table_log.h"
#include "sink/delta/table_schema.h"
#include "sink/parquet/compacted_file.h"
#include "sink/sink.h"

namespace clickstream::sink::delta {

namespace {

std::string Joined(const std::string& root, const std::string& path) {
  if (root.empty()) return path;
  return root.back() == '/' ? root + path : root + "/" + path;
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

// The columns our data files hold: the landed ones, without the partition column in the day layout.
std::shared_ptr<arrow::Schema> DataFileSchema(DateColumn date_column) {
  return LandedSchema(date_column)->RemoveMetadata();
}

// Opens a data file so that its columns read back as the events' Arrow types: the dictionary
// columns as dictionaries (a Delta data file stores no Arrow schema to say so).
arrow::Result<std::unique_ptr<parquet::arrow::FileReader>> OpenDataFile(DatasetStore* store, const std::string& path,
                                                                        const arrow::Schema& schema) {
  ARROW_ASSIGN_OR_RAISE(auto input, store->filesystem()->OpenInputFile(Joined(store->root(), path)));
  parquet::arrow::FileReaderBuilder builder;
  ARROW_RETURN_NOT_OK(builder.Open(std::move(input)));
  parquet::ArrowReaderProperties properties;
  const parquet::SchemaDescriptor* columns = builder.raw_reader()->metadata()->schema();
  for (const auto& field : schema.fields()) {
    const int index = columns->ColumnIndex(field->name());
    if (index >= 0 && field->type()->id() == arrow::Type::DICTIONARY) properties.set_read_dictionary(index, true);
  }
  return builder.memory_pool(arrow::default_memory_pool())->properties(properties)->Build();
}

// Whether the file holds exactly the events' columns, as this table's writer writes them.
arrow::Result<bool> HasSchema(DatasetStore* store, const std::string& path, const arrow::Schema& schema) {
  auto reader = OpenDataFile(store, path, schema);
  if (!reader.ok()) return reader.status().WithMessage(path, ": ", reader.status().message());
  std::shared_ptr<arrow::Schema> read;
  ARROW_RETURN_NOT_OK((*reader)->GetSchema(&read));
  return read->Equals(schema, /*check_metadata=*/false);
}

// Writes the rewrite's rows, in input order, as one file under `path`, and returns its add.
arrow::Result<AddFile> WriteRewrite(DatasetStore* store, const PlannedRewrite& rewrite,
                                    const std::shared_ptr<arrow::Schema>& schema, const std::string& path) {
  // Held in memory until published, as the consumer's files are: one PUT on an object store, a
  // temp file and a rename locally. That is up to the target size per file.
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create(int64_t{1} << 20));
  ARROW_ASSIGN_OR_RAISE(auto writer, CompactedFileWriter::Open(schema, sink, /*store_schema=*/false, nullptr));
  FileStatsBuilder stats;
  for (const AddFile& input : rewrite.inputs) {
    ARROW_ASSIGN_OR_RAISE(auto reader, OpenDataFile(store, input.path, *schema));
    ARROW_ASSIGN_OR_RAISE(auto batches, reader->GetRecordBatchReader());
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto batch, batches->Next());
      if (!batch) break;
      ARROW_RETURN_NOT_OK(stats.Add(*batch));
      ARROW_RETURN_NOT_OK(writer->Add(std::move(batch)));
    }
  }
  ARROW_RETURN_NOT_OK(writer->Close());
  ARROW_ASSIGN_OR_RAISE(auto contents, sink->Finish());
  ARROW_RETURN_NOT_OK(store->Publish({{NewFile{path, contents}}}));
  AddFile add;
  add.path = path;
  add.partition_values = rewrite.partition_values;
  add.size = contents->size();
  add.modification_time = NowMillis();
  add.data_change = false;
  ARROW_ASSIGN_OR_RAISE(add.stats, stats.Finish());
  return add;
}

struct Rewrite {
  PlannedRewrite plan;
  AddFile output;
};

std::string CompactionCommitInfo(const std::string& token, int64_t read_version, int64_t target_bytes) {
  return "{\"timestamp\":" + std::to_string(NowMillis()) +
         ",\"operation\":\"OPTIMIZE\",\"operationParameters\":{\"targetSize\":\"" + std::to_string(target_bytes) +
         "\"},\"readVersion\":" + std::to_string(read_version) +
         ",\"isBlindAppend\":false,\"clientVersion\":\"clickstream-" CLICKSTREAM_VERSION "\",\"clickstreamMember\":\"" +
         token + "\"}";
}

// The removes and adds of the rewrites, dataChange=false, and no txn.
Commit CompactionCommit(const std::vector<Rewrite>& rewrites, const std::string& commit_info) {
  Commit commit;
  commit.commit_info = commit_info;
  const int64_t now = NowMillis();
  for (const Rewrite& rewrite : rewrites) {
    for (const AddFile& input : rewrite.plan.inputs) {
      RemoveFile remove;
      remove.path = input.path;
      remove.deletion_timestamp = now;
      remove.data_change = false;
      remove.partition_values = input.partition_values;
      remove.size = input.size;  // written with extendedFileMetadata=true, as Delta's OPTIMIZE does
      commit.removes.push_back(std::move(remove));
    }
    commit.adds.push_back(rewrite.output);
  }
  return commit;
}

arrow::Result<DateColumn> DateColumnOf(const Metadata& metadata) {
  for (DateColumn layout : {DateColumn::kInPath, DateColumn::kInFile}) {
    if (metadata.partition_columns == PartitionColumns(layout)) {
      ARROW_RETURN_NOT_OK(CheckTableFits(metadata, layout));
      return layout;
    }
  }
  return arrow::Status::Invalid("the table is partitioned by other columns than event_date");
}

}  // namespace

arrow::Result<bool> IsDeltaTable(DatasetStore* store) {
  ARROW_ASSIGN_OR_RAISE(const auto info, store->filesystem()->GetFileInfo(Joined(store->root(), kLogDirectory)));
  return info.type() == arrow::fs::FileType::Directory;
}

std::vector<PlannedRewrite> PlanTableCompaction(const Snapshot& snapshot, int64_t target_bytes, int64_t cutoff_ms,
                                                const std::set<std::string>& excluded) {
  // Partition value -> its files, and whether any of them is too young to touch.
  std::map<std::map<std::string, std::string>, std::vector<const AddFile*>> partitions;
  std::set<std::map<std::string, std::string>> too_young;
  for (const auto& [path, add] : snapshot.files) {
    if (add.modification_time > cutoff_ms) too_young.insert(add.partition_values);
    if (add.size >= target_bytes || excluded.contains(path)) continue;
    partitions[add.partition_values].push_back(&add);
  }
  std::vector<PlannedRewrite> planned;
  for (auto& [values, files] : partitions) {
    if (too_young.contains(values)) continue;
    // Oldest first, so that rows keep the order in which they landed.
    std::sort(files.begin(), files.end(), [](const AddFile* a, const AddFile* b) {
      return std::tie(a->modification_time, a->path) < std::tie(b->modification_time, b->path);
    });
    std::vector<PlannedRewrite> outputs;
    int64_t bytes = 0;
    for (const AddFile* file : files) {
      if (outputs.empty() || bytes + file->size > target_bytes) {
        outputs.emplace_back();
        outputs.back().partition_values = values;
        bytes = 0;
      }
      outputs.back().inputs.push_back(*file);
      bytes += file->size;
    }
    for (PlannedRewrite& output : outputs) {
      if (output.inputs.size() > 1) planned.push_back(std::move(output));
    }
  }
  return planned;
}

bool StillCommittable(const Snapshot& snapshot, const PlannedRewrite& rewrite) {
  return std::all_of(rewrite.inputs.begin(), rewrite.inputs.end(),
                     [&snapshot](const AddFile& input) { return snapshot.files.contains(input.path); });
}

arrow::Result<TableCompactionSummary> CompactTable(DatasetStore* store, const TableCompactionOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  TableLog log(store);
  auto loaded = log.Load();
  if (!loaded.ok()) return arrow::Status::Invalid("Delta table ", store->Describe(), ": ", loaded.status().message());
  Snapshot snapshot = std::move(*loaded);
  if (!snapshot.protocol || !snapshot.metadata) {
    return arrow::Status::Invalid("Delta table ", store->Describe(), ": the log has no protocol or metaData action");
  }
  const arrow::Status writable = CheckWritable(*snapshot.protocol, *snapshot.metadata);
  if (!writable.ok()) return arrow::Status::Invalid("Delta table ", store->Describe(), ": ", writable.message());
  auto date_column = DateColumnOf(*snapshot.metadata);
  if (!date_column.ok()) {
    return arrow::Status::Invalid("Delta table ", store->Describe(), ": ", date_column.status().message());
  }
  const std::shared_ptr<arrow::Schema> schema = DataFileSchema(*date_column);

  TableCompactionSummary summary;
  summary.version_read = snapshot.version;
  summary.files_before = summary.files_after = static_cast<int64_t>(snapshot.files.size());
  const auto cutoff = std::chrono::system_clock::now() - options.min_age;
  const int64_t cutoff_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(cutoff.time_since_epoch()).count();
  // Files another writer wrote with other columns are left as they are, and the plan made again
  // without them until every file it rewrites has been checked.
  std::set<std::string> foreign;
  std::set<std::string> checked;
  std::vector<PlannedRewrite> plan;
  for (bool replan = true; replan;) {
    plan = PlanTableCompaction(snapshot, options.target_file_bytes, cutoff_ms, foreign);
    replan = false;
    for (const PlannedRewrite& rewrite : plan) {
      for (const AddFile& input : rewrite.inputs) {
        if (!checked.insert(input.path).second) continue;
        ARROW_ASSIGN_OR_RAISE(const bool ours, HasSchema(store, input.path, *schema));
        if (ours) continue;
        foreign.insert(input.path);
        replan = true;
      }
    }
  }
  summary.foreign_files = static_cast<int64_t>(foreign.size());
  if (plan.empty()) {
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return summary;
  }

  const std::string token = RandomHex(16);
  const std::string write_time = FormatWriteTime(std::chrono::system_clock::now());
  std::vector<Rewrite> rewrites;
  for (PlannedRewrite& planned : plan) {
    const std::string path = DirectoryOf(planned.inputs.front().path) + "part-" + write_time + "-" + token +
                             "-compacted-" + std::to_string(rewrites.size()) + ".parquet";
    ARROW_ASSIGN_OR_RAISE(AddFile output, WriteRewrite(store, planned, schema, path));
    rewrites.push_back(Rewrite{std::move(planned), std::move(output)});
    CrashPoint("delta-compact-after-write");
  }

  const std::string commit_info = CompactionCommitInfo(token, snapshot.version, options.target_file_bytes);
  while (!rewrites.empty()) {
    const Commit commit = CompactionCommit(rewrites, commit_info);
    const int64_t version = snapshot.version + 1;
    CrashPoint("delta-compact-before-commit");
    ARROW_ASSIGN_OR_RAISE(const bool created, log.TryCommit(version, commit));
    if (created) {
      snapshot.Apply(version, commit);
      CrashPoint("delta-compact-after-commit");
      summary.version_committed = version;
      break;
    }
    // A consumer's round or another compaction took the version: read what it committed.
    ARROW_ASSIGN_OR_RAISE(const auto newer, log.CatchUp(&snapshot));
    if (newer.empty()) return arrow::Status::IOError("version ", version, " exists but could not be read");
    for (const auto& [newer_version, newer_commit] : newer) {
      if (!newer_commit.protocol && !newer_commit.metadata) continue;
      arrow::Status still = CheckWritable(*snapshot.protocol, *snapshot.metadata);
      if (still.ok()) {
        const auto layout = DateColumnOf(*snapshot.metadata);
        still = !layout.ok()                ? layout.status()
                : *layout != *date_column ? arrow::Status::Invalid("its partition columns changed")
                                            : arrow::Status::OK();
      }
      if (!still.ok()) {
        return arrow::Status::IOError("version ", newer_version, " changed the table: ", still.message(),
                                      "; nothing was committed");
      }
    }
    // A rewrite whose input another writer removed would bring that input's rows back: give it up.
    // Its file was never referenced, so nobody can be reading it.
    std::erase_if(rewrites, [&](const Rewrite& rewrite) {
      if (StillCommittable(snapshot, rewrite.plan)) return false;
      ++summary.rewrites_given_up;
      const arrow::Status removed = store->Remove(rewrite.output.path);
      if (!removed.ok()) {
        WriteLog({LogLevel::kWarning, "compact", rewrite.output.path + " is left for vacuum: " + removed.message(),
                  {{"path", rewrite.output.path}}, std::string("clickstream compact: warning: ")});
      }
      return true;
    });
  }

  std::set<std::map<std::string, std::string>> partitions;
  for (const Rewrite& rewrite : rewrites) {
    partitions.insert(rewrite.plan.partition_values);
    summary.files_removed += static_cast<int64_t>(rewrite.plan.inputs.size());
    for (const AddFile& input : rewrite.plan.inputs) summary.bytes_removed += input.size;
    ++summary.files_added;
    summary.bytes_added += rewrite.output.size;
  }
  summary.partitions_compacted = static_cast<int64_t>(partitions.size());
  summary.files_after = static_cast<int64_t>(snapshot.files.size());
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

}  // namespace clickstream::sink::delta
