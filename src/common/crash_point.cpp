#include "common/crash_point.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/log.h"

namespace clickstream {

namespace {

struct CrashPlan {
  std::string step;  // empty: no crash planned
  long hit = 1;      // 1-based
};

std::atomic<long> hits_seen{0};

// Read once: the environment does not change during a run, and the hot paths call CrashPoint.
const CrashPlan& Plan() {
  static const CrashPlan plan = [] {
    CrashPlan parsed;
    const char* value = std::getenv("CLICKSTREAM_CRASH_AT");
    if (value == nullptr || *value == '\0') return parsed;
    std::string text(value);
    const size_t colon = text.rfind(':');
    if (colon != std::string::npos) {
      parsed.hit = std::max(1L, std::strtol(text.c_str() + colon + 1, nullptr, 10));
      text.resize(colon);
    }
    parsed.step = std::move(text);
    return parsed;
  }();
  return plan;
}

}  // namespace

void CrashPoint(std::string_view step) {
  const CrashPlan& plan = Plan();
  if (plan.step.empty() || plan.step != step) return;
  if (hits_seen.fetch_add(1) + 1 != plan.hit) return;
  // WriteLog flushes: the line is out before the signal.
  WriteLog({LogLevel::kError, "crash_point", "crash point " + plan.step + " reached: killing the process",
            {{"step", plan.step}}, std::string()});
  std::raise(SIGKILL);
}

}  // namespace clickstream
