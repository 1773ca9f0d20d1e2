// SIGINT/SIGTERM as a flag the replay loop checks: the handler only stores, all work happens in
// the loop (librdkafka and stdio are not async-signal-safe).
#pragma once

#include <atomic>

namespace clickstream::produce {

struct StopSignal {
  std::atomic<bool> requested{false};
  std::atomic<int> signal_number{0};
};

// Installs the handlers once and returns the flag they set. The one process-wide object in the
// program, because a signal handler has nowhere else to write.
const StopSignal& InstallStopSignalHandlers();

}  // namespace clickstream::produce
