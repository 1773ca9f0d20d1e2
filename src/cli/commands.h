// One function per subcommand: it declares the subcommand's flags on the root app and returns the
// action main() runs when that subcommand was chosen. The action maps module errors to exit codes.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace clickstream::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // the job ran but did not fully succeed (e.g. undelivered events)
inline constexpr int kExitUsage = 2;        // bad flags or arguments
inline constexpr int kExitInput = 3;        // unreadable input, or --strict met a bad row
inline constexpr int kExitInterrupted = 130;
inline constexpr int kExitTerminated = 143;

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// What --version prints: the binary's version and the librdkafka it runs with.
std::string VersionText();

Command AddGenerateCommand(CLI::App& root);
Command AddProduceCommand(CLI::App& root);
Command AddConsumeCommand(CLI::App& root);
Command AddReportCommand(CLI::App& root);
Command AddSchemaCommand(CLI::App& root);
Command AddCompactCommand(CLI::App& root);
Command AddVacuumCommand(CLI::App& root);

}  // namespace clickstream::cli
