// Deterministic crash points for the recovery tests: with CLICKSTREAM_CRASH_AT=<step>[:<n>] in the
// environment, the n-th time (default 1st) the process reaches CrashPoint("<step>") it SIGKILLs
// itself, as a power cut at exactly that step would. Unset (always, outside tests) it costs one
// comparison of a cached flag.
#pragma once

#include <string_view>

namespace clickstream {

void CrashPoint(std::string_view step);

}  // namespace clickstream
