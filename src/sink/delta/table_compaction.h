// `clickstream compact` on a Delta table (docs/delta-lake-design.md, "Compaction"): the small files
// of each event_date are rewritten into few large ones and swapped in by one commit of `remove`s
// and `add`s, all with dataChange=false, while consumers keep committing their rounds.
//
// Invariants:
//  - The commit holds no `txn`: the consumers' exactly-once record is never touched, and a consumer
//    that loses a version to the compaction finds its partitions where it left them and retries.
//  - Each rewritten file holds exactly the rows of the files it replaces, and the commit removes
//    exactly those: a reader of any version sees every row once.
//  - The commit is put-if-absent at the next version. When another writer took it, the newer
//    commits are read: consumers' appends never conflict (their files were not read here); a
//    rewrite one of whose inputs another writer removed meanwhile is given up (its new file is
//    deleted, never having been referenced), and the others are tried at the next version.
//  - Everything goes through the DatasetStore, so the same code runs on an object store once its
//    exclusive create exists. Nothing is deleted but never-committed files of this run: the
//    replaced files stay for older versions and readers mid-query, until vacuum.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "sink/delta/delta_log.h"
#include "sink/parquet/dataset_store.h"

namespace clickstream::sink::delta {

// Whether the store holds a Delta table (a _delta_log directory at its root).
arrow::Result<bool> IsDeltaTable(DatasetStore* store);

struct TableCompactionOptions {
  int64_t target_file_bytes = int64_t{128} << 20;
  // Partitions (days) whose newest file is younger than this are left alone: consumers are still
  // landing there, and a rewrite now would soon be rewritten again.
  std::chrono::seconds min_age{3600};
};

struct TableCompactionSummary {
  int64_t version_read = -1;
  int64_t version_committed = -1;  // -1: nothing was committed
  int64_t files_removed = 0;       // the small files replaced
  int64_t files_added = 0;         // the files that replace them
  int64_t bytes_removed = 0;
  int64_t bytes_added = 0;
  int64_t partitions_compacted = 0;  // distinct event_date values (1 in the flat layout)
  int64_t rewrites_given_up = 0;     // another writer removed one of their inputs meanwhile
  int64_t foreign_files = 0;         // files of another schema, left as they are
  int64_t files_before = 0;          // the snapshot's data files when read, and after the commit
  int64_t files_after = 0;
  double seconds = 0;
};

// One file to write: the files it replaces, all of one partition value, in the order their rows
// are copied (oldest commit first).
struct PlannedRewrite {
  std::map<std::string, std::string> partition_values;
  std::vector<AddFile> inputs;
};

// Decides what to rewrite, from the snapshot alone: per partition value whose newest file was
// added at or before cutoff_ms, the files below the target size (but `excluded`), cut into outputs
// of at most target_bytes of input; an output of one file would only rewrite it as itself and is
// not planned.
std::vector<PlannedRewrite> PlanTableCompaction(const Snapshot& snapshot, int64_t target_bytes, int64_t cutoff_ms,
                                                const std::set<std::string>& excluded = {});

// Whether every input of the rewrite is still a file of the snapshot: false once another writer
// removed one (then committing the rewrite would bring its rows back twice).
bool StillCommittable(const Snapshot& snapshot, const PlannedRewrite& rewrite);

// Compacts the table in the store. Invalid: not a table this writer can rewrite (nothing changed).
// Any other error happened part-way: nothing was committed unless the summary says so, and files
// written but not committed are left for vacuum.
arrow::Result<TableCompactionSummary> CompactTable(DatasetStore* store, const TableCompactionOptions& options);

}  // namespace clickstream::sink::delta
