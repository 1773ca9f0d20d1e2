// What the process writes to stderr: one line per LogLine, either as people read it
// ("consume: assigned 3 partition(s); ...") or, with --log-format json, as one JSON object per line
// for log shippers: {"time":"2026-12-04T18:30:00.123Z","level":"info","component":"consume",
// "message":"assigned 3 partition(s); ...","partitions":3}. Results (report tables, compact's
// summary, schema) go to stdout and are not log lines.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace clickstream {

enum class LogFormat { kHuman, kJson };
enum class LogLevel { kInfo, kWarning, kError };

// "human" or "json"; nullopt for anything else.
std::optional<LogFormat> ParseLogFormat(std::string_view text);

// The format is a property of the process, like its stderr: set once by the CLI before any work
// starts (librdkafka's threads log too, so it is read atomically), human until then.
void SetLogFormat(LogFormat format);
LogFormat CurrentLogFormat();
inline bool JsonLogs() { return CurrentLogFormat() == LogFormat::kJson; }

// A structured value beside the message. Keys must not be time, level, component or message.
struct LogField {
  using Value = std::variant<int64_t, double, bool, std::string>;

  LogField(std::string_view key_in, std::integral auto value_in)
      : key(key_in), value(static_cast<int64_t>(value_in)) {}
  LogField(std::string_view key_in, bool value_in) : key(key_in), value(value_in) {}
  LogField(std::string_view key_in, double value_in) : key(key_in), value(value_in) {}
  LogField(std::string_view key_in, std::string_view value_in) : key(key_in), value(std::string(value_in)) {}
  LogField(std::string_view key_in, const char* value_in) : key(key_in), value(std::string(value_in)) {}
  LogField(std::string_view key_in, std::string value_in) : key(key_in), value(std::move(value_in)) {}

  std::string key;
  Value value;
};

struct LogLine {
  LogLevel level = LogLevel::kInfo;
  std::string_view component;  // consume, produce, kafka, compact, ...
  std::string message;         // the human line's text after its prefix
  std::vector<LogField> fields;
  // The human line's prefix when it is not "<component>: ": the CLI's errors name the program
  // ("clickstream produce: "), as kcat's do, and existing scripts match those lines byte for byte.
  std::optional<std::string> human_prefix;
};

// The line as written, '\n' included. JSON strings are escaped so that any bytes (quotes, control
// characters, invalid UTF-8, which becomes U+FFFD) still make one valid JSON object.
std::string FormatHumanLine(const LogLine& line);
std::string FormatJsonLine(const LogLine& line, std::chrono::system_clock::time_point time);

// RFC 3339 in UTC with milliseconds: 2026-12-04T18:30:00.123Z.
std::string FormatLogTime(std::chrono::system_clock::time_point time);

// Appends `text` as a JSON string literal, quotes included.
void AppendJsonString(std::string* out, std::string_view text);

// Writes the line in the process's format to `out` in one write, so lines from librdkafka's threads
// and ours never interleave within a line.
void WriteLog(const LogLine& line, std::FILE* out = stderr);

inline void Log(LogLevel level, std::string_view component, std::string message, std::vector<LogField> fields = {}) {
  WriteLog(LogLine{level, component, std::move(message), std::move(fields), {}});
}

// "clickstream <command>: <message>" in the human format: a command's error, on which it exits.
inline void LogCommandError(std::string_view command, std::string message, std::vector<LogField> fields = {}) {
  WriteLog(LogLine{LogLevel::kError, command, std::move(message), std::move(fields),
                   "clickstream " + std::string(command) + ": "});
}

}  // namespace clickstream
