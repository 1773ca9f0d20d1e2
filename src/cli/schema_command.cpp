#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "event/landed_schema.h"

namespace clickstream::cli {

Command AddSchemaCommand(CLI::App& root) {
  auto partition_by = std::make_shared<std::string>("event_date");
  Command command;
  CLI::App* app = root.add_subcommand(
      "schema",
      "Print the schema of the landed Parquet files as JSON: each column's name, Arrow type, nullability and "
      "Parquet encoding, in file order.");
  app->add_option("--partition-by", *partition_by,
                  "As for consume: event_date keeps the date in the directory names; none adds an event_date "
                  "column")
      ->capture_default_str()
      ->check(CLI::IsMember({"event_date", "none"}));
  command.app = app;
  command.run = [partition_by] {
    const DateColumn date_column = *partition_by == "none" ? DateColumn::kInFile : DateColumn::kInPath;
    std::cout << LandedSchemaJson(date_column) << "\n";
    return kExitOk;
  };
  return command;
}

}  // namespace clickstream::cli
