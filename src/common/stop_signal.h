// SIGINT/SIGTERM as a flag the command loops check: the handler only stores, all work happens in
// the loops (librdkafka and stdio are not async-signal-safe). One handler for the whole binary:
// the first signal asks for a clean stop, a second one ends the process at once.
#pragma once

#include <atomic>

namespace clickstream {

struct StopSignal {
  std::atomic<bool> requested{false};
  std::atomic<int> signal_number{0};  // the first signal received; 0 while none
};

// Installs the SIGINT and SIGTERM handlers and returns the flag they set. The one process-wide
// object in the program, because a signal handler has nowhere else to write. A second signal
// while the first is being served exits with 128 + its number, without flushing anything: the
// user asked twice, and a stop that hangs on an unreachable broker must not need kill -9.
const StopSignal& InstallStopSignalHandlers();

}  // namespace clickstream
