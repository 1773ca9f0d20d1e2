#include "cli/commands.h"

#include <iostream>

namespace clickstream::cli {

Command AddProduceCommand(CLI::App& root) {
  Command command;
  command.app = root.add_subcommand("produce", "(not built yet)");
  command.run = [] {
    std::cerr << "clickstream produce: not built yet\n";
    return kExitFailed;
  };
  return command;
}

}  // namespace clickstream::cli
