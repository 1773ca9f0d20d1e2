#include <unistd.h>

#include <cctype>
#include <chrono>
#include <optional>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "sink/parquet/compaction.h"

namespace clickstream::cli {

namespace {

struct CompactFlags {
  std::string output;
  int64_t target_file_mb = 128;
  std::string min_age = "1h";
};

// "0", "90s", "15m", "1h", "2d"; a bare number is seconds.
std::optional<std::chrono::seconds> ParseAge(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits + 1 < text.size() || digits > 9) return std::nullopt;
  const int64_t value = std::stoll(text.substr(0, digits));
  const char unit = digits < text.size() ? text[digits] : 's';
  switch (unit) {
    case 's': return std::chrono::seconds(value);
    case 'm': return std::chrono::seconds(value * 60);
    case 'h': return std::chrono::seconds(value * 3600);
    case 'd': return std::chrono::seconds(value * 86400);
    default: return std::nullopt;
  }
}

std::string Megabytes(int64_t bytes) { return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6); }

int RunCompact(const CompactFlags& flags) {
  const auto min_age = ParseAge(flags.min_age);
  if (!min_age) {
    std::cerr << "clickstream compact: --min-age " << flags.min_age << ": expected e.g. 0, 90s, 15m, 1h or 2d\n";
    return kExitUsage;
  }
  sink::CompactionOptions options;
  options.target_file_bytes = flags.target_file_mb << 20;
  options.min_age = *min_age;
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  if (terminal) {
    options.on_progress = [](const sink::CompactionProgress& progress) {
      std::cerr << fmt::format("\rcompact: {}/{} days ({})\x1b[K", progress.days_done, progress.days_total,
                               progress.directory)
                << std::flush;
    };
  }
  const auto summary = sink::CompactDataset(flags.output, options);
  if (terminal && options.on_progress) std::cerr << "\r\x1b[K" << std::flush;
  if (!summary.ok()) {
    std::cerr << "clickstream compact: " << summary.status().message() << "\n";
    return summary.status().IsInvalid() ? kExitUsage : kExitFailed;
  }
  std::cout << fmt::format("compacted {} days in {:.2f} s: {} files, {} before; {} files, {} after", summary->days_compacted,
                           summary->seconds, summary->files_before, Megabytes(summary->bytes_before),
                           summary->files_after, Megabytes(summary->bytes_after));
  if (summary->days_changed_meanwhile > 0) {
    std::cout << fmt::format(" ({} days changed while being compacted: left for the next run)",
                             summary->days_changed_meanwhile);
  }
  std::cout << "\n";
  return kExitOk;
}

}  // namespace

Command AddCompactCommand(CLI::App& root) {
  auto flags = std::make_shared<CompactFlags>();
  Command command;
  command.app = root.add_subcommand(
      "compact",
      "Rewrite the small landed Parquet files into few large ones per Kafka partition and event_date, while "
      "consumers keep landing: same rows, resume points kept, each day swapped atomically.");
  command.app->add_option("-o,--output", flags->output, "The landed dataset (a local directory)")->required();
  command.app->add_option("--target-file-mb", flags->target_file_mb, "Size of a compacted file, at most")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  command.app->add_option("--min-age", flags->min_age,
                          "Leave days whose newest file is younger than this (0, 90s, 15m, 1h, 2d): they may "
                          "still be written to")
      ->capture_default_str();
  command.run = [flags] { return RunCompact(*flags); };
  return command;
}

}  // namespace clickstream::cli
