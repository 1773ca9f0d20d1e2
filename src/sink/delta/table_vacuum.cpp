#include "sink/delta/table_vacuum.h"

#include "sink/delta/table_log.h"
#include "sink/parquet/landed_files.h"

namespace clickstream::sink::delta {

namespace {

int64_t MillisOf(std::chrono::system_clock::time_point when) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
}

}  // namespace

std::vector<VacuumCandidate> PlanVacuum(const Snapshot& snapshot, const std::vector<StoredFile>& listing,
                                        int64_t cutoff_ms, int64_t* kept_too_young) {
  std::vector<VacuumCandidate> candidates;
  int64_t young = 0;
  for (const StoredFile& file : listing) {
    if (snapshot.files.contains(file.path)) continue;
    const std::string_view base = BaseName(file.path);
    const auto temp_of = FinalNameOfTemp(base);
    const std::string_view name = temp_of ? *temp_of : base;
    if (!name.ends_with(".parquet") || name.starts_with(".") || name.starts_with("_")) continue;
    const auto tombstone = snapshot.tombstones.find(file.path);
    const bool removed = tombstone != snapshot.tombstones.end();
    // A removed file counts from its remove: until the retention has passed since, readers of the
    // versions that still hold it may be reading it.
    const int64_t age_from = removed ? tombstone->second.deletion_timestamp : MillisOf(file.modified);
    if (age_from > cutoff_ms) {
      ++young;
      continue;
    }
    candidates.push_back(VacuumCandidate{file.path, file.size, removed});
  }
  if (kept_too_young != nullptr) *kept_too_young = young;
  return candidates;
}

arrow::Result<VacuumSummary> VacuumTable(DatasetStore* store, const VacuumOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  if (options.retention < kMinimumSafeRetention && !options.allow_short_retention) {
    return arrow::Status::Invalid("a retention below 1h may delete a running writer's files before it commits them "
                                  "(the table would then name missing files); stop every writer of ",
                                  store->Describe(), " and add --allow-short-retention to vacuum with it anyway");
  }
  // Listed before the log is read: a file committed in between is then in the snapshot, never
  // taken for an orphan.
  ARROW_ASSIGN_OR_RAISE(const std::vector<StoredFile> listing, store->List());
  TableLog log(store);
  auto snapshot = log.Load();
  if (!snapshot.ok()) return arrow::Status::Invalid("Delta table ", store->Describe(), ": ", snapshot.status().message());
  if (snapshot->version < 0) return arrow::Status::Invalid(store->Describe(), " has no Delta log to vacuum by");
  VacuumSummary summary;
  summary.version = snapshot->version;
  summary.files_referenced = static_cast<int64_t>(snapshot->files.size());
  const int64_t cutoff_ms = MillisOf(std::chrono::system_clock::now() - options.retention);
  summary.deleted = PlanVacuum(*snapshot, listing, cutoff_ms, &summary.kept_too_young);
  if (!options.dry_run) {
    for (const VacuumCandidate& candidate : summary.deleted) ARROW_RETURN_NOT_OK(store->Remove(candidate.path));
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

}  // namespace clickstream::sink::delta
