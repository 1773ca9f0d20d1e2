// Where a Parquet dataset's files live, and how a group of them becomes durable there: a local
// directory (write a temp file, fsync, rename, fsync the directory) or an object store (an object
// appears whole when its upload completes, and listings are strongly consistent). The dataset
// writer, the recovery scan and the compactor speak to a store only through this interface.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/buffer.h>
#include <arrow/filesystem/filesystem.h>
#include <arrow/result.h>
#include <arrow/status.h>

namespace clickstream::sink {

// Paths are relative to the dataset's root and '/'-separated: "clickstream_…parquet" or
// "event_date=2015-06-01/clickstream_…parquet".
struct StoredFile {
  std::string path;
  int64_t size = 0;
  std::chrono::system_clock::time_point modified;
};

struct NewFile {
  std::string path;
  std::shared_ptr<arrow::Buffer> contents;
};

class DatasetStore {
 public:
  virtual ~DatasetStore() = default;

  // The location as the user gave it (a directory or a URI without credentials).
  virtual std::string Describe() const = 0;

  // Every file at the root and in its event_date=* directories, temp files included.
  virtual arrow::Result<std::vector<StoredFile>> List() = 0;

  // Makes the files durable generation after generation: no file of generation g+1 becomes
  // visible before every file of generation g is durable. Each file is visible whole under its
  // name or not at all; a file of the same name is replaced. On error some generations may be
  // durable, never part of a file.
  virtual arrow::Status Publish(const std::vector<std::vector<NewFile>>& generations) = 0;

  // Deletes a file; a file that is already gone is not an error.
  virtual arrow::Status Remove(const std::string& path) = 0;

  // Creates the file only if no file of that name exists, and never replaces one: true when this
  // call created it (then it is durable), false when the name was already taken. The file is
  // visible whole or not at all. This is the commit of a Delta table's log (sink/delta/): two
  // writers racing for one version never both win.
  virtual arrow::Result<bool> CreateExclusive(const NewFile& file) = 0;

  // An Arrow file system and the root path on it under which readers (pyarrow-style datasets,
  // the report, the compactor) find the files.
  virtual std::shared_ptr<arrow::fs::FileSystem> filesystem() const = 0;
  virtual std::string root() const = 0;
};

// What opening a local directory that does not exist does: create it (a sink about to land
// there), or leave it missing (a reader, which then says so in its own words).
enum class MissingDirectory { kCreate, kLeave };

// A local directory for a plain path.
arrow::Result<std::unique_ptr<DatasetStore>> OpenLocalDatasetStore(
    const std::string& directory, MissingDirectory missing = MissingDirectory::kCreate);

// Opens the store a location names: a plain path (or file://path) is a local directory;
// s3://bucket/prefix an object store. An unknown scheme, or a store that cannot be reached, is an
// Invalid status whose message names the location and the cause.
arrow::Result<std::unique_ptr<DatasetStore>> OpenDatasetStore(const std::string& location,
                                                              MissingDirectory missing = MissingDirectory::kCreate);

// The scheme of a location ("s3", "postgresql", …), empty for a plain path.
std::string SchemeOf(const std::string& location);

// Whether the location is a plain local path (not a URI, nor a mistyped "s3:bucket/x").
bool IsLocalPath(const std::string& location);

}  // namespace clickstream::sink
