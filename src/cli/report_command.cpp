#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "common/log.h"
#include "report/detector.h"
#include "report/funnel.h"
#include "report/html_report.h"
#include "report/landed_dataset.h"
#include "report/text_report.h"

namespace clickstream::cli {

namespace {

struct ReportFlags {
  std::string input;
  std::string html;
  std::string segment_by = "device,browser,os";
  int top = 10;
};

int RunReport(const ReportFlags& flags) {
  auto dimensions = report::ParseSegmentBy(flags.segment_by);
  if (!dimensions.ok()) {
    LogCommandError("report", "--segment-by: " + dimensions.status().message());
    return kExitUsage;
  }
  const auto started = std::chrono::steady_clock::now();
  auto table = report::ReadFunnel(flags.input, *dimensions);
  if (!table.ok()) {
    LogCommandError("report", table.status().message());
    return kExitUsage;
  }
  const report::DetectorOptions options;
  const std::vector<report::Finding> findings = report::DetectDrops(*table, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::cout << fmt::format("Read {} events over {} days from {} in {:.2f} s", report::WithThousands(table->events),
                           table->day_count, flags.input, seconds);
  if (table->skipped_events > 0) {
    std::cout << fmt::format(" ({} rows skipped: unknown event type or missing fields)",
                             report::WithThousands(table->skipped_events));
  }
  std::cout << "\n\n";
  report::PrintFunnel(*table, std::cout);
  report::PrintFindings(*table, findings, flags.top, options, std::cout);
  if (!flags.html.empty()) {
    auto written = report::WriteHtmlReport(flags.html, *table, findings, flags.top, options);
    if (!written.ok()) {
      LogCommandError("report", "--html: " + written.message());
      return kExitFailed;
    }
    std::cout << "\nHTML report: " << flags.html << "\n";
  }
  return kExitOk;
}

}  // namespace

Command AddReportCommand(CLI::App& root) {
  auto flags = std::make_shared<ReportFlags>();
  Command command;
  command.app = root.add_subcommand(
      "report",
      "Read the landed Parquet, print the funnel by segment and find segments whose cart->purchase rate dropped "
      "abruptly against the rest of the site.");
  command.app->add_option("-i,--input", flags->input, "Landed Parquet: a directory or s3://bucket/prefix (Hive event_date=… or flat)")
      ->required();
  command.app->add_option("--html", flags->html, "Also write a self-contained HTML report to this file");
  command.app->add_option("--segment-by", flags->segment_by, "Segment dimensions, comma-separated: device,browser,os")
      ->capture_default_str();
  command.app->add_option("--top", flags->top, "Show at most this many flagged segments")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command.run = [flags] { return RunReport(*flags); };
  return command;
}

}  // namespace clickstream::cli
