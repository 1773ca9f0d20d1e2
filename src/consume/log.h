// The consumer's progress and problem lines: one line each on stderr, "consume: " in the human
// format, component "consume" in the JSON one (common/log.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/log.h"

namespace clickstream::consume {

template <typename... Args>
void Log(fmt::format_string<Args...> format, Args&&... args) {
  clickstream::Log(LogLevel::kInfo, "consume", fmt::format(format, std::forward<Args>(args)...));
}

// The same with a level and the line's structured fields, for log shippers.
template <typename... Args>
void LogWith(LogLevel level, std::vector<LogField> fields, fmt::format_string<Args...> format, Args&&... args) {
  clickstream::Log(level, "consume", fmt::format(format, std::forward<Args>(args)...), std::move(fields));
}

}  // namespace clickstream::consume
