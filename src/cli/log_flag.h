// --log-format human|json, shared by every subcommand (README, "Monitoring", "Logs"): the format of every line
// the process writes to stderr (common/log.h).
#pragma once

#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

namespace clickstream::cli {

void AddLogFormatFlag(CLI::App* app, std::string* format);

// Sets the process's log format from the flag's value before the command does anything. An unknown
// value is one line on stderr naming the flag and the choices, and false: the caller exits with
// kExitUsage. Checked here rather than by CLI11, whose errors take two lines.
bool ApplyLogFormatFlag(const std::string& format, std::string_view command);

// Whether the arguments ask for JSON logs, read before (or without) a successful parse: a usage
// error found by CLI11 is then reported as one JSON line too.
bool ArgumentsAskForJsonLogs(int argc, const char* const* argv);

// A usage error CLI11 found (its message and the --help hint) in the format the arguments asked for.
void ReportUsageError(const CLI::App& app, const CLI::ParseError& error, bool json);

}  // namespace clickstream::cli
