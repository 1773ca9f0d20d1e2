// Names of the files the consumer lands, and the recovery scan that reads progress back from them.
//
// The output directory is the source of truth for what has been landed: every file names its
// Kafka partition, the offset range its batch covered and which part of the batch it is, e.g.
//   clickstream_20260101_120000_123_p3_o1000-1499_1of2.parquet
// A batch whose messages were all dead letters leaves a marker instead of a data file, so the
// resume point still moves past them:
//   _clickstream_20260101_120000_123_p3_o1500-1999_1of1.skipped
// `clickstream compact` replaces a day's complete batches of one partition by files that name the
// whole offset range they hold (see sink/parquet/compaction.h):
//   clickstream_20260102_030000_000_p3_o0-5999_compacted.parquet
// Files are written under ".<final name>.tmp" first; none of these names match "*.parquet", and
// pyarrow, Spark and Hive ignore names starting with '.' or '_'.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <arrow/result.h>

#include "sink/parquet/dataset_store.h"

namespace clickstream::sink {

enum class LandedFileKind { kData, kMarker, kCompacted };

struct LandedFileName {
  LandedFileKind kind = LandedFileKind::kData;
  std::string write_time;  // "YYYYMMDD_HHMMSS_mmm", UTC
  int32_t partition = 0;
  int64_t first_offset = 0;  // first and last Kafka offsets the batch consumed, inclusive
  int64_t last_offset = 0;
  int part = 1;  // 1-based; a batch spread over several event_date directories has several parts
  int parts = 1;  // 1 for a compacted file
};

std::string FormatLandedFileName(const LandedFileName& name);
// Accepts exactly what FormatLandedFileName writes.
std::optional<LandedFileName> ParseLandedFileName(std::string_view file_name);

// The temporary name a file is written under before its rename, and its inverse.
std::string TempFileName(std::string_view final_name);
std::optional<std::string_view> FinalNameOfTemp(std::string_view temp_name);

// Hive-style directory of a day: "event_date=YYYY-MM-DD".
std::string EventDateDirectory(int32_t days_since_epoch);
bool IsEventDateDirectory(std::string_view name);

// The file name of a store path: "event_date=2015-06-01/clickstream_….parquet" gives
// "clickstream_….parquet".
std::string_view BaseName(std::string_view path);

// One batch of a partition as its files record it, keyed by its offset range. A compacted file is
// an entry of its own (its range spans many batches).
struct LandedBatchFiles {
  int parts = 0;
  std::set<int> present;
  bool marker = false;
  bool compacted = false;  // a compacted file, or a batch inside a compacted file's range
  std::vector<std::string> paths;
  bool complete() const { return marker || compacted || static_cast<int>(present.size()) >= parts; }
};
using LandedBatches = std::map<std::pair<int64_t, int64_t>, LandedBatchFiles>;

// Groups one partition's files (path and parsed name; no temp files) by batch. The compactor only
// rewrites complete batches and a partition's batches never overlap, so a batch whose range lies
// inside a compacted file's range was complete when it was compacted: the parts it still has
// elsewhere (another event_date) count as complete too.
LandedBatches GroupLandedBatches(const std::vector<std::pair<std::string, LandedFileName>>& files);

struct PartitionRecovery {
  // Where consumption of the partition resumes; empty when the directory holds nothing of it.
  std::optional<int64_t> resume_offset;
  int64_t removed_files = 0;  // temp files, parts of incomplete batches and superseded markers
  // The marker file (relative path) when the newest landed batch is one: obsolete once a later
  // batch lands.
  std::string newest_marker;
};

// Scans the dataset (its root and every event_date=* directory) for the files of the given
// partitions and cleans up what a killed run left behind:
//  - temp files are deleted;
//  - a batch with fewer parts present than it announced (killed between renames or uploads) is
//    deleted with every batch after it, and consumption resumes at its first offset;
//  - otherwise consumption resumes after the highest offset landed;
//  - a compacted file counts as the complete batches of its range (file names only: no footer is read).
// Fails when the store cannot be listed: without it, the resume point is unknown.
arrow::Result<std::map<int32_t, PartitionRecovery>> RecoverPartitions(DatasetStore* store,
                                                                     const std::set<int32_t>& partitions);

}  // namespace clickstream::sink
