// The consumer's progress and problem lines: one line each on stderr, prefixed "consume: ".
#pragma once

#include <cstdio>
#include <utility>

#include <fmt/format.h>

namespace clickstream::consume {

template <typename... Args>
void Log(fmt::format_string<Args...> format, Args&&... args) {
  fmt::print(stderr, "consume: {}\n", fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace clickstream::consume
