#include "cli/commands.h"

#include <iostream>

namespace clickstream::cli {

Command AddConsumeCommand(CLI::App& root) {
  Command command;
  command.app = root.add_subcommand("consume", "(not built yet)");
  command.run = [] {
    std::cerr << "clickstream consume: not built yet\n";
    return kExitFailed;
  };
  return command;
}

}  // namespace clickstream::cli
