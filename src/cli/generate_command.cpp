#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "common/log.h"
#include "generate/csv_writer.h"
#include "generate/generator.h"

namespace clickstream::cli {

namespace {

struct GenerateSettings {
  generate::GenerateFlags flags;
  std::string output = "-";
};

}  // namespace

Command AddGenerateCommand(CLI::App& root) {
  auto settings = std::make_shared<GenerateSettings>();
  generate::GenerateFlags& flags = settings->flags;
  Command command;
  CLI::App* app = root.add_subcommand(
      "generate",
      "Write a realistic synthetic clickstream CSV: sessions with a daily and weekly rhythm, heavy-tailed item "
      "popularity, and a checkout bug that makes Safari on iOS lose most purchases from --bug-start on.");
  app->add_option("--events", flags.events, "Number of events (rows) to write")->capture_default_str();
  app->add_option("--seed", flags.seed, "Random seed; the same arguments always give the same bytes")
      ->capture_default_str();
  app->add_option("--start-date", flags.start_date, "First day, YYYY-MM-DD (UTC)")->capture_default_str();
  app->add_option("--days", flags.days, "Number of days (default range ends 2015-09-18)")->capture_default_str();
  app->add_option("--bug", flags.bug, "Checkout bug to simulate: safari-ios or none")->capture_default_str();
  app->add_option("--bug-start", flags.bug_start,
                  "First day of the bug, YYYY-MM-DD (default: 61.6% into the range; 2015-07-27 for the default range)");
  app->add_option("--bug-severity", flags.bug_severity, "Share of Safari/iOS purchases lost to the bug, 0..1")
      ->capture_default_str();
  app->add_option("-o,--output", settings->output, "Output CSV file, or - for stdout")->capture_default_str();
  command.app = app;
  command.run = [settings] {
    const auto options = generate::ResolveGenerateOptions(settings->flags);
    if (!options.ok()) {
      LogCommandError("generate", options.status().message());
      return kExitUsage;
    }
    const arrow::Status status = generate::WriteClickstreamCsv(*options, settings->output);
    if (!status.ok()) {
      LogCommandError("generate", status.message());
      return kExitFailed;
    }
    return kExitOk;
  };
  return command;
}

}  // namespace clickstream::cli
