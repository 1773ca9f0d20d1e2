// `clickstream vacuum` (docs/delta-lake-design.md, "Vacuum"): deletes the data files a Delta table
// no longer needs once they are older than the retention:
//  - files removed from the table (by a compaction) whose remove is older than the retention;
//  - orphans: data files under the root that no commit references (a crashed or fenced round, a
//    compaction that crashed or lost), last modified before the retention.
// It never deletes a file of the current snapshot, nor one removed more recently than the
// retention (a reader of an older version may still read it). The store is listed before the log
// is read, so a file committed meanwhile is seen as referenced.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "sink/delta/delta_log.h"
#include "sink/parquet/dataset_store.h"

namespace clickstream::sink::delta {

// Delta's delta.deletedFileRetentionDuration default.
inline constexpr std::chrono::seconds kDefaultRetention{7 * 24 * 3600};
// Below this, an unreferenced file may be a live writer's round about to be committed (or a
// compaction's): deleting it would leave a commit that names a missing file. Delta refuses such a
// retention unless retentionDurationCheck is turned off; so does VacuumTable unless asked.
inline constexpr std::chrono::seconds kMinimumSafeRetention{3600};

struct VacuumOptions {
  std::chrono::seconds retention = kDefaultRetention;
  bool allow_short_retention = false;
  bool dry_run = false;  // decide and report, delete nothing
};

struct VacuumCandidate {
  std::string path;
  int64_t size = 0;
  bool removed_from_table = false;  // false: an orphan no commit ever referenced (as far as the log says)
};

struct VacuumSummary {
  int64_t version = -1;
  std::vector<VacuumCandidate> deleted;  // or, for a dry run, what would be
  int64_t kept_too_young = 0;            // unreferenced files within the retention
  int64_t files_referenced = 0;
  double seconds = 0;
};

// Decides, from a listing of the store and the snapshot, what a vacuum at cutoff_ms (now minus the
// retention) deletes; kept_too_young counts the unreferenced data files it keeps. Only Parquet
// data files and the temp files of their writes are candidates; other names, hidden ones and the
// log are left alone.
std::vector<VacuumCandidate> PlanVacuum(const Snapshot& snapshot, const std::vector<StoredFile>& listing,
                                        int64_t cutoff_ms, int64_t* kept_too_young);

// Invalid (nothing deleted) for a store that is not a readable table, or a retention below
// kMinimumSafeRetention that was not explicitly allowed.
arrow::Result<VacuumSummary> VacuumTable(DatasetStore* store, const VacuumOptions& options);

}  // namespace clickstream::sink::delta
