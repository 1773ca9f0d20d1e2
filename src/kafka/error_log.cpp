#include "kafka/error_log.h"

namespace clickstream::kafka {

std::optional<int64_t> ErrorLogLimiter::Admit(int code, Clock::time_point now) {
  auto [it, first] = codes_.try_emplace(code);
  CodeState& state = it->second;
  if (!first && now - state.last_line < interval_) {
    ++state.held_back;
    return std::nullopt;
  }
  const int64_t held_back = state.held_back;
  state.last_line = now;
  state.held_back = 0;
  return held_back;
}

}  // namespace clickstream::kafka
