#include "sink/parquet/compaction.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <system_error>
#include <vector>

#include <arrow/io/file.h>
#include <arrow/util/key_value_metadata.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/exception.h>

#include "common/crash_point.h"
#include "sink/parquet/compacted_file.h"
#include "sink/parquet/dataset_store.h"
#include "sink/parquet/directory_lock.h"
#include "sink/parquet/landed_files.h"
#include "sink/parquet/parquet_dataset.h"
#include "sink/parquet/posix_file.h"
#include "sink/sink.h"

namespace clickstream::sink {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::system_clock;

constexpr char kCompactLockName[] = "compact";

// Removes a directory and everything in it; one already gone is not an error.
arrow::Status RemoveTree(const std::string& path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (error) return arrow::Status::IOError("cannot remove ", path, ": ", error.message());
  return arrow::Status::OK();
}

std::string DirectoryOf(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? "" : std::string(path.substr(0, slash));
}

// A landed Parquet file the plan may rewrite, with what its footer says.
struct InputFile {
  std::string path;  // relative to the root
  LandedFileName name;
  int64_t size = 0;
  std::shared_ptr<arrow::Schema> schema;  // without the file's key-value metadata
  std::string topic;
  std::string compacted_batches;  // a compacted file's own list of batches
};

// One compacted file to write: its inputs, in offset order, share one schema.
struct OutputFile {
  LandedFileName name;
  std::vector<const InputFile*> inputs;
};

struct DayPlan {
  std::string directory;  // event_date=…
  std::vector<OutputFile> outputs;
  std::set<std::string> input_names;  // base names
};

struct Plan {
  std::vector<std::unique_ptr<InputFile>> inputs;
  std::vector<DayPlan> days;
  int64_t data_files = 0;
  int64_t data_bytes = 0;
};

arrow::Status ReadFooter(const std::string& root, InputFile* input) {
  const std::string full = root + "/" + input->path;
  auto opened = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto file, arrow::io::ReadableFile::Open(full));
    ARROW_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(file, arrow::default_memory_pool()));
    std::shared_ptr<arrow::Schema> schema;
    ARROW_RETURN_NOT_OK(reader->GetSchema(&schema));
    input->schema = schema->RemoveMetadata();
    const auto metadata = reader->parquet_reader()->metadata()->key_value_metadata();
    if (metadata) {
      const auto topic = metadata->Get(metadata_key::kTopic);
      if (topic.ok()) input->topic = *topic;
      const auto batches = metadata->Get(metadata_key::kCompactedBatches);
      if (batches.ok()) input->compacted_batches = *batches;
    }
    return arrow::Status::OK();
  }();
  if (!opened.ok()) {
    return arrow::Status::Invalid(full, " is not a readable Parquet file (", opened.message(), ")");
  }
  return arrow::Status::OK();
}

// Cuts one partition's inputs of a day (offset order) into output files of about the target size,
// at batch boundaries, and wherever the schema changes (files landed before and after an upgrade).
std::vector<OutputFile> CutIntoOutputs(std::vector<const InputFile*> inputs, int64_t target_bytes,
                                       const std::string& write_time) {
  std::sort(inputs.begin(), inputs.end(),
            [](const InputFile* a, const InputFile* b) { return a->name.first_offset < b->name.first_offset; });
  std::vector<OutputFile> outputs;
  int64_t bytes = 0;
  for (const InputFile* input : inputs) {
    const bool fits = !outputs.empty() && bytes + input->size <= target_bytes &&
                      outputs.back().inputs.front()->schema->Equals(*input->schema);
    if (!fits) {
      outputs.emplace_back();
      outputs.back().name.kind = LandedFileKind::kCompacted;
      outputs.back().name.write_time = write_time;
      outputs.back().name.partition = input->name.partition;
      outputs.back().name.first_offset = input->name.first_offset;
      bytes = 0;
    }
    outputs.back().inputs.push_back(input);
    outputs.back().name.last_offset = std::max(outputs.back().name.last_offset, input->name.last_offset);
    bytes += input->size;
  }
  // One input alone would only be rewritten as itself.
  std::erase_if(outputs, [](const OutputFile& output) {
    return output.inputs.size() == 1 && output.inputs.front()->name.kind == LandedFileKind::kCompacted;
  });
  return outputs;
}

// What the store's listing holds, by partition, and the newest file of each directory.
struct Listing {
  std::vector<StoredFile> stored;
  std::map<int32_t, std::vector<std::pair<std::string, LandedFileName>>> by_partition;
  std::map<std::string, Clock::time_point> newest_in_directory;
  std::map<std::string, const StoredFile*> stored_by_path;
  int64_t data_files = 0;
  int64_t data_bytes = 0;
};

// Lists the dataset and refuses what compact must not touch: foreign Parquet files, a directory
// that holds no landed file, both layouts in one root.
arrow::Result<std::unique_ptr<Listing>> ScanListing(DatasetStore* store) {
  auto listing = std::make_unique<Listing>();
  ARROW_ASSIGN_OR_RAISE(listing->stored, store->List());
  int64_t other_files = 0;
  int64_t flat_files = 0;
  int64_t dated_files = 0;
  for (const StoredFile& file : listing->stored) {
    const std::string_view base = BaseName(file.path);
    const std::string directory = DirectoryOf(file.path);
    auto& newest = listing->newest_in_directory[directory];
    newest = std::max(newest, file.modified);
    const auto name = ParseLandedFileName(base);
    if (!name) {
      if (FinalNameOfTemp(base)) continue;  // a landing in progress, or a crash's leftover for recovery
      if (base.ends_with(".parquet")) {
        return arrow::Status::Invalid(store->root(), "/", file.path,
                                      " is not a file landed by `clickstream consume`; compact rewrites only "
                                      "landed datasets");
      }
      if (!base.starts_with(".")) ++other_files;
      continue;
    }
    if (name->kind != LandedFileKind::kMarker) {
      (directory.empty() ? flat_files : dated_files) += 1;
      ++listing->data_files;
      listing->data_bytes += file.size;
    }
    listing->by_partition[name->partition].emplace_back(file.path, *name);
    listing->stored_by_path[file.path] = &file;
  }
  if (flat_files > 0 && dated_files > 0) {
    return arrow::Status::Invalid(store->root(), " mixes the flat layout (files at its root) and event_date=… "
                                                 "directories: land each layout in a directory of its own");
  }
  if (listing->by_partition.empty() && other_files > 0) {
    return arrow::Status::Invalid(store->root(), " is not a landed dataset: no clickstream_*.parquet files in it");
  }
  return listing;
}

// Decides what to rewrite: per directory old enough, per partition, the data files of complete
// batches plus compacted files still below the target size. Reads nothing but names and the
// footers of the chosen files; changes nothing.
arrow::Result<Plan> MakePlan(DatasetStore* store, const CompactionOptions& options, const std::string& write_time) {
  ARROW_ASSIGN_OR_RAISE(const auto listing, ScanListing(store));
  Plan plan;
  plan.data_files = listing->data_files;
  plan.data_bytes = listing->data_bytes;
  const Clock::time_point cutoff = Clock::now() - options.min_age;
  // (directory, partition) -> the files to rewrite
  std::map<std::string, std::map<int32_t, std::vector<InputFile*>>> chosen;
  for (const auto& [partition, files] : listing->by_partition) {
    const LandedBatches batches = GroupLandedBatches(files);
    for (const auto& [path, name] : files) {
      if (name.kind == LandedFileKind::kMarker) continue;
      const std::string directory = DirectoryOf(path);
      if (listing->newest_in_directory.at(directory) > cutoff) continue;
      const StoredFile& file = *listing->stored_by_path.at(path);
      const bool complete = batches.at({name.first_offset, name.last_offset}).complete();
      const bool small_compacted = name.kind == LandedFileKind::kCompacted && file.size < options.target_file_bytes;
      if (name.kind == LandedFileKind::kData ? !complete : !small_compacted) continue;
      plan.inputs.push_back(std::make_unique<InputFile>(InputFile{path, name, file.size, nullptr, "", ""}));
      chosen[directory][partition].push_back(plan.inputs.back().get());
    }
  }
  for (auto& [directory, partitions] : chosen) {
    DayPlan day;
    day.directory = directory;
    for (auto& [partition, inputs] : partitions) {
      const bool has_small_files = std::any_of(inputs.begin(), inputs.end(), [](const InputFile* input) {
        return input->name.kind == LandedFileKind::kData;
      });
      if (!has_small_files || inputs.size() < 2) continue;
      for (InputFile* input : inputs) ARROW_RETURN_NOT_OK(ReadFooter(store->root(), input));
      for (OutputFile& output : CutIntoOutputs({inputs.begin(), inputs.end()}, options.target_file_bytes,
                                               write_time)) {
        for (const InputFile* input : output.inputs) day.input_names.insert(std::string(BaseName(input->path)));
        day.outputs.push_back(std::move(output));
      }
    }
    if (!day.outputs.empty()) plan.days.push_back(std::move(day));
  }
  return plan;
}

std::shared_ptr<const arrow::KeyValueMetadata> CompactedMetadata(const OutputFile& output) {
  std::string batches;
  for (const InputFile* input : output.inputs) {
    if (!batches.empty()) batches += ',';
    if (input->name.kind == LandedFileKind::kCompacted) {
      batches += input->compacted_batches;
      continue;
    }
    batches += std::to_string(input->name.first_offset) + "-" + std::to_string(input->name.last_offset) + ":" +
               std::to_string(input->name.part) + "/" + std::to_string(input->name.parts);
  }
  return arrow::key_value_metadata(
      {metadata_key::kTopic, metadata_key::kPartition, metadata_key::kFirstOffset, metadata_key::kLastOffset,
       metadata_key::kCompactedBatches},
      {output.inputs.front()->topic, std::to_string(output.name.partition), std::to_string(output.name.first_offset),
       std::to_string(output.name.last_offset), batches});
}

// Streams the inputs' rows into one file, in offset order, one row group at a time
// (compacted_file.h), so memory stays at about one row group whatever the target size.
arrow::Status WriteCompactedFile(const std::string& root, const OutputFile& output, const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::FileOutputStream::Open(path));
  ARROW_ASSIGN_OR_RAISE(auto writer, CompactedFileWriter::Open(output.inputs.front()->schema, sink,
                                                               /*store_schema=*/true, CompactedMetadata(output)));
  for (const InputFile* input : output.inputs) {
    ARROW_ASSIGN_OR_RAISE(auto file, arrow::io::ReadableFile::Open(root + "/" + input->path));
    ARROW_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(file, arrow::default_memory_pool()));
    ARROW_ASSIGN_OR_RAISE(auto batches, reader->GetRecordBatchReader());
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto batch, batches->Next());
      if (!batch) break;
      ARROW_RETURN_NOT_OK(writer->Add(std::move(batch)));
    }
  }
  ARROW_RETURN_NOT_OK(writer->Close());
  ARROW_RETURN_NOT_OK(sink->Close());
  return SyncFile(path);
}

// Beside the root, not in it: DuckDB's `**` glob descends into hidden directories, so staged files
// inside the dataset would be counted twice.
std::string StagingRootOf(const std::string& root) {
  return (fs::path(root).parent_path() / ("." + fs::path(root).filename().string() + ".compacting")).string();
}

class Compactor {
 public:
  explicit Compactor(std::string root) : root_(std::move(root)), staging_root_(StagingRootOf(root_)) {}

  // Takes the dataset's compactor lock and deletes what a killed run left in the staging area.
  // Nothing of the dataset changes before this succeeds, so its failures are bad input.
  arrow::Status Prepare() {
    auto lock = DirectoryLock::Acquire(root_, kCompactLockName, DirectoryLock::Mode::kExclusive, /*wait=*/false);
    if (!lock.ok()) return arrow::Status::Invalid(root_, " cannot be written: ", lock.status().message());
    if (*lock == nullptr) return arrow::Status::Invalid("another clickstream compact is running on ", root_);
    lock_ = std::move(*lock);
    std::error_code error;
    fs::remove_all(staging_root_, error);
    if (error) return arrow::Status::Invalid("cannot clean ", staging_root_, ": ", error.message());
    if (::mkdir(staging_root_.c_str(), 0755) != 0) {
      return arrow::Status::Invalid("cannot create the staging directory ", staging_root_, " beside ", root_, ": ",
                                    std::strerror(errno), " (compact needs to write in the dataset's parent)");
    }
    struct stat root_info {};
    struct stat staging_info {};
    if (::stat(root_.c_str(), &root_info) != 0 || ::stat(staging_root_.c_str(), &staging_info) != 0 ||
        root_info.st_dev != staging_info.st_dev) {
      const arrow::Status cleaned = Finish();
      return arrow::Status::Invalid(root_, " is a mount point: compact swaps directories with one rename, which "
                                           "needs its staging area beside the dataset on the same file system",
                                    cleaned.ok() ? "" : " (and " + cleaned.message() + ")");
    }
    return arrow::Status::OK();
  }

  // Returns nothing when a consumer changed the day's inputs since the plan was made: the day is
  // left as it is for the next run. Otherwise the bytes of the compacted files it swapped in.
  arrow::Result<std::optional<int64_t>> CompactDay(const DayPlan& day) {
    const bool flat = day.directory.empty();
    const std::string staged = staging_root_ + "/" + (flat ? std::string(kRootLockName) : day.directory);
    const std::string live = flat ? root_ : root_ + "/" + day.directory;
    ARROW_RETURN_NOT_OK(RemoveTree(staged));
    if (::mkdir(staged.c_str(), 0755) != 0) return ErrnoStatus("create", staged);
    int64_t written_bytes = 0;
    for (const OutputFile& output : day.outputs) {
      const std::string path = staged + "/" + FormatLandedFileName(output.name);
      ARROW_RETURN_NOT_OK(WriteCompactedFile(root_, output, path));
      CrashPoint("compact-after-write");
      std::error_code error;
      written_bytes += static_cast<int64_t>(fs::file_size(path, error));
      if (error) return arrow::Status::IOError("cannot stat ", path, ": ", error.message());
    }
    {
      ARROW_ASSIGN_OR_RAISE(auto lock, DirectoryLock::Acquire(root_, flat ? kRootLockName : day.directory,
                                                              DirectoryLock::Mode::kExclusive));
      ARROW_ASSIGN_OR_RAISE(const bool unchanged, LinkTheRest(day, live, staged));
      if (!unchanged) {
        ARROW_RETURN_NOT_OK(RemoveTree(staged));
        return std::nullopt;
      }
      ARROW_RETURN_NOT_OK(SyncDirectory(staged));
      CrashPoint("compact-before-swap");
      if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, live.c_str(), RENAME_EXCHANGE) != 0) {
        return ErrnoStatus("swap in the compacted directory", live);
      }
      CrashPoint("compact-after-swap");
      ARROW_RETURN_NOT_OK(SyncDirectory(fs::path(live).parent_path().string()));
      ARROW_RETURN_NOT_OK(SyncDirectory(staging_root_));
    }
    // The staged name now holds the old directory; readers that still have its files open keep them.
    ARROW_RETURN_NOT_OK(RemoveTree(staged));
    CrashPoint("compact-after-cleanup");
    return written_bytes;
  }

  // Removes the (empty) staging directory and releases the compactor lock.
  arrow::Status Finish() {
    std::error_code error;
    fs::remove(staging_root_, error);
    lock_.reset();
    if (error) return arrow::Status::IOError("cannot remove ", staging_root_, ": ", error.message());
    return arrow::Status::OK();
  }

 private:
  // Under the day's exclusive lock: hard-links into the staged directory every file of the live
  // one that is not an input, so files landed since the plan survive the swap. False when an
  // input is gone (a consumer's recovery removed it).
  arrow::Result<bool> LinkTheRest(const DayPlan& day, const std::string& live, const std::string& staged) {
    std::set<std::string> seen_inputs;
    std::error_code error;
    for (fs::directory_iterator it(live, error), end; !error && it != end; it.increment(error)) {
      const std::string name = it->path().filename().string();
      if (day.input_names.count(name) > 0) {
        seen_inputs.insert(name);
        continue;
      }
      // The flat layout swaps the whole root: its lock files stay behind with the old one, and
      // whoever waited on them takes the lock again in the new root (directory_lock.cpp).
      if (live == root_ && name == kLockDirectoryName) continue;
      if (!it->is_regular_file(error) || error) {
        return arrow::Status::IOError(it->path().string(), " is not a regular file: compact leaves ", live,
                                      " alone");
      }
      const std::string target = staged + "/" + name;
      if (::link(it->path().c_str(), target.c_str()) != 0) return ErrnoStatus("link", target);
    }
    if (error) return arrow::Status::IOError("cannot read ", live, ": ", error.message());
    return seen_inputs.size() == day.input_names.size();
  }

  std::string root_;
  std::string staging_root_;
  std::unique_ptr<DirectoryLock> lock_;
};

void CountRewrite(const DayPlan& day, int64_t written_bytes, CompactionProgress* progress) {
  for (const OutputFile& output : day.outputs) {
    progress->input_files += static_cast<int64_t>(output.inputs.size());
    for (const InputFile* input : output.inputs) progress->input_bytes += input->size;
  }
  progress->output_files = static_cast<int64_t>(day.outputs.size());
  progress->output_bytes = written_bytes;
}

arrow::Result<std::string> LocalRoot(const std::string& location) {
  const std::string scheme = SchemeOf(location);
  std::string path = location;
  if (scheme == "file") {
    path = location.substr(std::string("file://").size());
  } else if (scheme == "s3") {
    return arrow::Status::Invalid(location, ": compact works on local directories only for now (it swaps "
                                            "directories atomically, which an object store cannot do)");
  } else if (!scheme.empty()) {
    return arrow::Status::Invalid(location, ": unsupported scheme '", scheme, "' (compact takes a directory)");
  }
  std::error_code error;
  if (!fs::is_directory(path, error)) return arrow::Status::Invalid(path, ": no such directory");
  const fs::path root = fs::absolute(path).lexically_normal();
  return (root.has_filename() ? root : root.parent_path()).string();
}

}  // namespace

arrow::Result<CompactionSummary> CompactDataset(const std::string& location, const CompactionOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  ARROW_ASSIGN_OR_RAISE(const std::string root, LocalRoot(location));
  ARROW_ASSIGN_OR_RAISE(auto store, OpenLocalDatasetStore(root));
  ARROW_ASSIGN_OR_RAISE(const Plan plan, MakePlan(store.get(), options, FormatWriteTime(Clock::now())));
  CompactionSummary summary;
  summary.files_before = plan.data_files;
  summary.bytes_before = plan.data_bytes;
  Compactor compactor(root);
  const bool leftovers = fs::exists(StagingRootOf(root));
  if (!plan.days.empty() || leftovers) ARROW_RETURN_NOT_OK(compactor.Prepare());
  for (const DayPlan& day : plan.days) {
    ARROW_ASSIGN_OR_RAISE(const std::optional<int64_t> written_bytes, compactor.CompactDay(day));
    ++(written_bytes ? summary.days_compacted : summary.days_changed_meanwhile);
    if (options.on_progress) {
      CompactionProgress progress{summary.days_compacted + summary.days_changed_meanwhile,
                                  static_cast<int64_t>(plan.days.size()),
                                  day.directory.empty() ? "the root" : day.directory};
      if (written_bytes) CountRewrite(day, *written_bytes, &progress);
      options.on_progress(progress);
    }
  }
  ARROW_RETURN_NOT_OK(compactor.Finish());
  ARROW_ASSIGN_OR_RAISE(const std::vector<StoredFile> after, store->List());
  for (const StoredFile& file : after) {
    const auto name = ParseLandedFileName(BaseName(file.path));
    if (!name || name->kind == LandedFileKind::kMarker) continue;
    ++summary.files_after;
    summary.bytes_after += file.size;
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

}  // namespace clickstream::sink
