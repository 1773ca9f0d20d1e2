#include "cli/log_flag.h"

#include "common/log.h"

namespace clickstream::cli {

void AddLogFormatFlag(CLI::App* app, std::string* format) {
  app->add_option("--log-format", *format,
                  "How lines on stderr are written: human, or json (one object per line: time, level, component, "
                  "message and the line's fields)")
      ->capture_default_str();
}

bool ApplyLogFormatFlag(const std::string& format, std::string_view command) {
  const std::optional<LogFormat> parsed = ParseLogFormat(format);
  if (!parsed) {
    LogCommandError(command, "--log-format " + format + ": expected human or json");
    return false;
  }
  SetLogFormat(*parsed);
  return true;
}

bool ArgumentsAskForJsonLogs(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (argument == "--log-format=json") return true;
    if (argument == "--log-format" && i + 1 < argc && std::string_view(argv[i + 1]) == "json") return true;
  }
  return false;
}

void ReportUsageError(const CLI::App& app, const CLI::ParseError& error, bool json) {
  if (!json) {
    app.exit(error);  // prints the message and the usage hint
    return;
  }
  SetLogFormat(LogFormat::kJson);
  Log(LogLevel::kError, "clickstream", error.what(), {{"hint", "run with --help for more information"}});
}

}  // namespace clickstream::cli
