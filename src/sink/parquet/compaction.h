// `clickstream compact`: rewrites the small files the consumer lands into few large ones, per Kafka
// partition and event_date directory, while consumers keep landing into the same dataset.
//
// Invariants (README "Compaction" says what a reader and a consumer observe):
//  - Only complete batches are rewritten, and a compacted file names the offset range it holds
//    (landed_files.h), so the recovery scan still finds every batch and its resume point.
//  - A day is swapped whole: its new directory is prepared beside the dataset root (the compacted
//    files plus hard links of every file left as it was), then exchanged with the live directory in
//    one renameat2(RENAME_EXCHANGE), under the day's exclusive lock (directory_lock.h). A reader
//    sees the old directory or the new one, never both; the staging area is outside the root
//    because DuckDB's `**` glob descends into hidden directories.
//  - The flat layout (files at the root) is compacted per partition, and the root is swapped the
//    same way as a day, under the root's lock.
//  - A SIGKILL at any step leaves either the old or the new directory live; what is left in the
//    staging area is garbage that the next run deletes. Consumers need nothing from a rerun.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <arrow/result.h>

namespace clickstream::sink {

struct CompactionProgress {
  int64_t days_done = 0;
  int64_t days_total = 0;
  std::string directory;  // the event_date=… directory just finished
  // What that directory's swap rewrote (all 0 when a consumer changed it meanwhile and it was left).
  int64_t input_files = 0;
  int64_t input_bytes = 0;
  int64_t output_files = 0;
  int64_t output_bytes = 0;
};

struct CompactionOptions {
  int64_t target_file_bytes = int64_t{128} << 20;
  // Days whose newest file is younger than this are left alone: they may still be written to.
  std::chrono::seconds min_age{3600};
  std::function<void(const CompactionProgress&)> on_progress;  // optional
};

struct CompactionSummary {
  int64_t days_compacted = 0;
  int64_t days_changed_meanwhile = 0;  // skipped: a consumer removed an input before the swap
  int64_t files_before = 0;            // Parquet data files of the whole dataset
  int64_t files_after = 0;
  int64_t bytes_before = 0;
  int64_t bytes_after = 0;
  double seconds = 0;
};

// Compacts the local dataset at `location`. An Invalid status is bad input (not a directory, not
// a landed dataset, a foreign or unreadable Parquet file, an object-store URI, a directory that
// cannot be written): nothing was changed. Any other error happened part-way: the days swapped so
// far are compacted, the others untouched, and a rerun finishes the job.
arrow::Result<CompactionSummary> CompactDataset(const std::string& location, const CompactionOptions& options);

}  // namespace clickstream::sink
