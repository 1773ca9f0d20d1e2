#include "cli/table_commands.h"

#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/age_flag.h"
#include "cli/commands.h"
#include "common/log.h"
#include "sink/delta/table_compaction.h"
#include "sink/delta/table_vacuum.h"
#include "sink/parquet/dataset_store.h"

namespace clickstream::cli {

namespace {

std::string Megabytes(int64_t bytes) { return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6); }

struct VacuumFlags {
  std::string output;
  std::string retention = "7d";
  bool allow_short_retention = false;
  bool dry_run = false;
};

int RunVacuum(const VacuumFlags& flags) {
  const auto retention = ParseAge(flags.retention);
  if (!retention) {
    LogCommandError("vacuum", "--retention " + flags.retention + ": expected e.g. 0, 12h, 7d or 30d");
    return kExitUsage;
  }
  auto store = sink::OpenDatasetStore(flags.output, sink::MissingDirectory::kLeave);
  if (!store.ok()) {
    LogCommandError("vacuum", store.status().message());
    return kExitUsage;
  }
  const auto table = sink::delta::IsDeltaTable(store->get());
  if (!table.ok() || !*table) {
    LogCommandError("vacuum", flags.output + " is not a Delta table (no _delta_log directory)");
    return kExitUsage;
  }
  sink::delta::VacuumOptions options;
  options.retention = *retention;
  options.allow_short_retention = flags.allow_short_retention;
  options.dry_run = flags.dry_run;
  const auto summary = sink::delta::VacuumTable(store->get(), options);
  if (!summary.ok()) {
    LogCommandError("vacuum", summary.status().message());
    return summary.status().IsInvalid() ? kExitUsage : kExitFailed;
  }
  int64_t removed = 0;
  int64_t orphans = 0;
  int64_t bytes = 0;
  for (const auto& file : summary->deleted) {
    if (flags.dry_run) std::cout << file.path << "\n";
    ++(file.removed_from_table ? removed : orphans);
    bytes += file.size;
  }
  std::cout << fmt::format("{} {} files removed from the table and {} orphans ({}) at version {} in {:.2f} s; "
                           "{} files referenced; {} unreferenced files within the retention kept\n",
                           flags.dry_run ? "would delete" : "deleted", removed, orphans, Megabytes(bytes),
                           summary->version, summary->seconds, summary->files_referenced,
                           summary->kept_too_young);
  return kExitOk;
}

}  // namespace

bool IsDeltaTableLocation(const std::string& location) {
  auto store = sink::OpenDatasetStore(location, sink::MissingDirectory::kLeave);
  if (!store.ok()) return false;
  const auto table = sink::delta::IsDeltaTable(store->get());
  return table.ok() && *table;
}

int RunCompactTable(const std::string& location, int64_t target_file_bytes, std::chrono::seconds min_age,
                    const std::function<void(const sink::CompactionProgress&)>& on_committed) {
  auto store = sink::OpenDatasetStore(location, sink::MissingDirectory::kLeave);
  if (!store.ok()) {
    LogCommandError("compact", store.status().message());
    return kExitUsage;
  }
  sink::delta::TableCompactionOptions options;
  options.target_file_bytes = target_file_bytes;
  options.min_age = min_age;
  const auto summary = sink::delta::CompactTable(store->get(), options);
  if (!summary.ok()) {
    LogCommandError("compact", summary.status().message());
    return summary.status().IsInvalid() ? kExitUsage : kExitFailed;
  }
  if (summary->version_committed >= 0) {
    on_committed(sink::CompactionProgress{summary->partitions_compacted, summary->partitions_compacted,
                                          "version " + std::to_string(summary->version_committed),
                                          summary->files_removed, summary->bytes_removed, summary->files_added,
                                          summary->bytes_added});
  }
  if (summary->version_committed < 0) {
    std::cout << fmt::format("compacted nothing at version {} in {:.2f} s: {} files", summary->version_read,
                             summary->seconds, summary->files_before);
  } else {
    std::cout << fmt::format("compacted {} partitions in {:.2f} s at version {}: {} files, {} replaced by {} files, "
                             "{}; the table has {} files, {} before",
                             summary->partitions_compacted, summary->seconds, summary->version_committed,
                             summary->files_removed, Megabytes(summary->bytes_removed), summary->files_added,
                             Megabytes(summary->bytes_added), summary->files_after, summary->files_before);
  }
  if (summary->rewrites_given_up > 0) {
    std::cout << fmt::format(" ({} rewrites given up: another writer removed one of their files meanwhile; their "
                             "new files are deleted)",
                             summary->rewrites_given_up);
  }
  if (summary->foreign_files > 0) {
    std::cout << fmt::format(" ({} files of other columns left as they are)", summary->foreign_files);
  }
  std::cout << "\n";
  return kExitOk;
}

Command AddVacuumCommand(CLI::App& root) {
  auto flags = std::make_shared<VacuumFlags>();
  Command command;
  command.app = root.add_subcommand(
      "vacuum",
      "Delete the data files a Delta table no longer references (removed by compact, or orphaned by a crashed "
      "round) once older than the retention; never a file of the current version.");
  command.app->add_option("-o,--output", flags->output, "The Delta table (a directory)")->required();
  command.app->add_option("--retention", flags->retention,
                          "Keep files removed, or unreferenced and modified, more recently than this (0, 12h, 7d)")
      ->capture_default_str();
  command.app->add_flag("--allow-short-retention", flags->allow_short_retention,
                        "Allow a retention below 1h: only once every writer of the table has stopped, or their "
                        "uncommitted files may be deleted");
  command.app->add_flag("--dry-run", flags->dry_run, "List what would be deleted, delete nothing");
  command.run = [flags] { return RunVacuum(*flags); };
  return command;
}

}  // namespace clickstream::cli
