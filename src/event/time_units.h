// Fixed lengths of time in the units the event and its landed files use. UTC has no leap seconds
// in epoch arithmetic, so a day is always this many seconds.
#pragma once

#include <cstdint>

namespace clickstream {

inline constexpr int64_t kSecondsPerDay = 86'400;

}  // namespace clickstream
