#include "cli/commands.h"

#include <iostream>

namespace clickstream::cli {

Command AddReportCommand(CLI::App& root) {
  Command command;
  command.app = root.add_subcommand("report", "(not built yet)");
  command.run = [] {
    std::cerr << "clickstream report: not built yet\n";
    return kExitFailed;
  };
  return command;
}

}  // namespace clickstream::cli
