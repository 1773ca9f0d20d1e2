#include "common/log.h"

#include <atomic>
#include <cmath>
#include <ctime>
#include <mutex>

#include <fmt/format.h>

namespace clickstream {

namespace {

std::atomic<LogFormat> process_format{LogFormat::kHuman};

// Serialises whole lines: stderr is unbuffered, but one fwrite may still be split into several
// writes, and librdkafka's threads log while ours do.
std::mutex write_mutex;

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

// The length of the well-formed UTF-8 sequence at the start of `text` (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 when it is not one.
size_t Utf8SequenceLength(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong below U+0800
    if (lead == 0xED) high = 0x9F;  // UTF-16 surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong below U+10000
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

void AppendEscapedAscii(std::string* out, char c) {
  switch (c) {
    case '"': *out += "\\\""; break;
    case '\\': *out += "\\\\"; break;
    case '\b': *out += "\\b"; break;
    case '\f': *out += "\\f"; break;
    case '\n': *out += "\\n"; break;
    case '\r': *out += "\\r"; break;
    case '\t': *out += "\\t"; break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        *out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
      } else {
        *out += c;
      }
  }
}

void AppendJsonValue(std::string* out, const LogField::Value& value) {
  if (const auto* integer = std::get_if<int64_t>(&value)) {
    *out += std::to_string(*integer);
  } else if (const auto* real = std::get_if<double>(&value)) {
    // JSON has no NaN or infinity; null says "no number" without breaking the line.
    *out += std::isfinite(*real) ? fmt::format("{}", *real) : "null";
  } else if (const auto* flag = std::get_if<bool>(&value)) {
    *out += *flag ? "true" : "false";
  } else {
    AppendJsonString(out, std::get<std::string>(value));
  }
}

}  // namespace

std::optional<LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "human") return LogFormat::kHuman;
  if (text == "json") return LogFormat::kJson;
  return std::nullopt;
}

void SetLogFormat(LogFormat format) { process_format.store(format); }

LogFormat CurrentLogFormat() { return process_format.load(); }

void AppendJsonString(std::string* out, std::string_view text) {
  *out += '"';
  while (!text.empty()) {
    const size_t length = Utf8SequenceLength(text);
    if (length == 0) {
      *out += "\\ufffd";  // one replacement per byte that starts no valid sequence
      text.remove_prefix(1);
    } else if (length == 1) {
      AppendEscapedAscii(out, text.front());
      text.remove_prefix(1);
    } else {
      out->append(text.substr(0, length));
      text.remove_prefix(length);
    }
  }
  *out += '"';
}

std::string FormatLogTime(std::chrono::system_clock::time_point time) {
  const auto since_epoch = std::chrono::floor<std::chrono::milliseconds>(time.time_since_epoch());
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const std::time_t whole = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  gmtime_r(&whole, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                     utc.tm_hour, utc.tm_min, utc.tm_sec, (since_epoch - seconds).count());
}

std::string FormatHumanLine(const LogLine& line) {
  std::string text = line.human_prefix ? *line.human_prefix : std::string(line.component) + ": ";
  text += line.message;
  text += '\n';
  return text;
}

std::string FormatJsonLine(const LogLine& line, std::chrono::system_clock::time_point time) {
  std::string text = "{\"time\":\"" + FormatLogTime(time) + "\",\"level\":\"";
  text += LevelName(line.level);
  text += "\",\"component\":";
  AppendJsonString(&text, line.component);
  text += ",\"message\":";
  AppendJsonString(&text, line.message);
  for (const LogField& field : line.fields) {
    text += ',';
    AppendJsonString(&text, field.key);
    text += ':';
    AppendJsonValue(&text, field.value);
  }
  text += "}\n";
  return text;
}

void WriteLog(const LogLine& line, std::FILE* out) {
  const std::string text =
      JsonLogs() ? FormatJsonLine(line, std::chrono::system_clock::now()) : FormatHumanLine(line);
  const std::lock_guard<std::mutex> lock(write_mutex);
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

}  // namespace clickstream
