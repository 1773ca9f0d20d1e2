#include "cli/commands.h"

#include <iostream>

namespace clickstream::cli {

Command AddGenerateCommand(CLI::App& root) {
  Command command;
  command.app = root.add_subcommand("generate", "(not built yet)");
  command.run = [] {
    std::cerr << "clickstream generate: not built yet\n";
    return kExitFailed;
  };
  return command;
}

}  // namespace clickstream::cli
