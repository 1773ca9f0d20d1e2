// A Delta table's log on a DatasetStore (a local directory or an object store): reading the
// snapshot (the newest checkpoint, then every commit after it), catching up with commits other
// writers made, committing a version put-if-absent, and writing checkpoints.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <arrow/result.h>

#include "sink/delta/delta_log.h"
#include "sink/parquet/dataset_store.h"

namespace clickstream::sink::delta {

inline constexpr char kLogDirectory[] = "_delta_log";

// "_delta_log/00000000000000000042.json"
std::string CommitPath(int64_t version);
// "_delta_log/00000000000000000040.checkpoint.parquet"
std::string CheckpointPath(int64_t version);

// A commit's clock: ms since the epoch, as every timestamp in the log.
int64_t NowMillis();
// `digits` random hex digits: a writer's token, which keeps its data file names its own.
std::string RandomHex(size_t digits);

class TableLog {
 public:
  explicit TableLog(DatasetStore* store) : store_(store) {}

  // The table's newest snapshot. An empty snapshot (version -1) when the log holds no commit yet.
  // Invalid, naming the version, for a commit that cannot be read as Delta actions, a version
  // missing between two others, or a log that starts after version 0 without a checkpoint.
  arrow::Result<Snapshot> Load();

  // Reads the commits after snapshot->version, one by one until the next is absent, and applies
  // them. Returns them, in version order, for the caller's conflict checks.
  arrow::Result<std::vector<std::pair<int64_t, Commit>>> CatchUp(Snapshot* snapshot);

  // Creates version `version` with the commit unless it exists: true when this call created it.
  arrow::Result<bool> TryCommit(int64_t version, const Commit& commit);

  // Writes the snapshot as `<version>.checkpoint.parquet` and then points `_last_checkpoint` at it,
  // so a crash between the two leaves the previous checkpoint in charge.
  arrow::Status WriteCheckpoint(const Snapshot& snapshot);

  // Reads a checkpoint file (ours or another writer's single-file checkpoint).
  arrow::Result<Snapshot> ReadCheckpoint(int64_t version);

 private:
  // The file's bytes, or nullptr when there is no such file.
  arrow::Result<std::shared_ptr<arrow::Buffer>> ReadIfExists(const std::string& path);
  arrow::Result<std::shared_ptr<arrow::Buffer>> ReadCommitFile(int64_t version);

  DatasetStore* store_;
};

// The checkpoint of a snapshot as one Parquet file: one row per action (protocol, metaData, each
// txn, add and remove), each row with exactly one of those struct columns set.
arrow::Result<std::shared_ptr<arrow::Buffer>> EncodeCheckpoint(const Snapshot& snapshot);
arrow::Result<Snapshot> DecodeCheckpoint(const std::shared_ptr<arrow::Buffer>& contents, int64_t version);

}  // namespace clickstream::sink::delta
