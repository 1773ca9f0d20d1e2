// clickstream: generate or replay a clickstream through Apache Kafka, land it exactly once as
// Parquet (a directory or S3) or in PostgreSQL, compact the Parquet and report on what landed.
// CLI wiring only; each subcommand's flags and action live in src/cli/.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/log_flag.h"
#include "sink/parquet/s3_store.h"

int main(int argc, char** argv) {
  using namespace clickstream::cli;
  // Outlives every command, so the S3 subsystem (if one was used) is shut down after its last call.
  const clickstream::sink::ObjectStoreSubsystem object_stores;
  CLI::App app{
      "clickstream: replay user clickstream data into Apache Kafka and land it as analytics-ready Parquet.\n"
      "  generate  write a realistic synthetic clickstream CSV (with a Safari-on-iOS checkout bug)\n"
      "  produce   replay a clickstream CSV into a Kafka topic at a controlled rate\n"
      "  consume   land the topic's events exactly once: Parquet (local or S3) or PostgreSQL\n"
      "  compact   rewrite the landed small files into few large ones, exactly once\n"
      "  vacuum    delete the files a Delta table no longer references\n"
      "  report    find the conversion drop in the landed Parquet\n"
      "  schema    print the landed Parquet schema as JSON",
      "clickstream"};
  app.set_version_flag("--version", VersionText());
  app.require_subcommand(1);

  const std::vector<Command> commands = {AddGenerateCommand(app), AddProduceCommand(app), AddConsumeCommand(app),
                                         AddReportCommand(app), AddCompactCommand(app), AddVacuumCommand(app),
                                         AddSchemaCommand(app)};
  // Every subcommand takes it, so none can write a stderr line a log shipper cannot parse.
  std::string log_format = "human";
  for (const Command& command : commands) AddLogFormatFlag(command.app, &log_format);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    ReportUsageError(app, e, ArgumentsAskForJsonLogs(argc, argv));
    return kExitUsage;
  }
  for (const Command& command : commands) {
    if (!command.app->parsed()) continue;
    if (!ApplyLogFormatFlag(log_format, command.app->get_name())) return kExitUsage;
    return command.run();
  }
  return kExitUsage;
}
